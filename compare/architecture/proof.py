"""What the gradient proof adds for layers with a mode, running statistics and masks (batchnorm,
layernorm, dropout): the judge's masks handed to both sides, the running statistics compared after a
few training forwards, and the whole proof again in test mode.

Each part returns rows ``(name, hand-written array, reference array)`` that ``compare.gradcheck`` judges
like any parameter's gradient."""

from __future__ import annotations

import numpy as np

from compare.architecture.dropout import draw_masks
from compare.architecture.registry import buffers, plan

TRAINING_FORWARDS = 3  # training forwards after the proof's own, before the running statistics are read


def masks_for(spec, rows: int, seed: int, draw: int) -> dict[str, np.ndarray]:
    """The ``draw``-th set of keep-masks of a proof seeded ``seed``: a pure function of both."""
    return draw_masks(spec, rows, np.random.default_rng((seed, 31, draw)))


def hand_torch_masks(net, masks: dict[str, np.ndarray]) -> None:
    """The same keep-masks into the torch twin's dropout modules (``torch_impl.layers.Dropout.mask``)."""
    import torch

    for name, keep in masks.items():
        getattr(net, name).mask = torch.from_numpy(np.ascontiguousarray(keep))


class CancelledBiases:
    """The gradient of an affine bias just before batchnorm is 0 in exact arithmetic (the batch mean it adds
    is subtracted again); computed, it is a sum that cancels, so both sides land at rounding noise whose
    relative error means nothing.  This watches autograd's batchnorm during its step and gives, per such
    bias, how far from 0 rounding may take it: the sum of N terms of batchnorm's backward, each as large as
    (2 + √N)·|γ|/√(σ² + ε)·|dL/dy|, rounded: 4·N·ε·(2 + √N)·max_f(|γ_f|/√(σ_f² + ε)·max_n|dL/dy_nf|)."""

    def __init__(self, spec, net):
        layers = plan(spec)
        self.watched = {
            f"{layer.name}.bias": after.name
            for layer, after in zip(layers, layers[1:])
            if layer.kind.slot == "affine" and after.kind.cancels_bias
        }
        self.seen, self.hooks = {}, []
        for bias, norm in self.watched.items():
            self.hooks.append(getattr(net, norm).register_forward_hook(self._keep(bias)))

    def _keep(self, bias):
        def hook(module, inputs, output):
            output.retain_grad()
            self.seen[bias] = (module, inputs[0].detach(), output)

        return hook

    def levels(self, rows: int, dtype) -> dict[str, float]:
        import torch

        for h in self.hooks:
            h.remove()
        eps = float(np.finfo(np.dtype(dtype)).eps)
        out = {}
        for bias, (module, x, y) in self.seen.items():
            if y.grad is None:
                continue
            with torch.no_grad():
                inv_std = 1.0 / torch.sqrt(x.var(dim=0, unbiased=False) + module.eps)
                term = (module.weight.abs() * inv_std * y.grad.abs().amax(dim=0)).max()
            out[bias] = 4 * rows * eps * (2 + rows**0.5) * float(term)
        return out


def torch_buffers(net) -> dict[str, np.ndarray]:
    return {name: b.detach().cpu().numpy().copy() for name, b in net.named_buffers()}


def running_statistics(spec, impl, net, x: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Both sides run ``TRAINING_FORWARDS`` more training forwards (each of the batch's rows in another
    order, with the judge's masks); then each running statistic is read from both."""
    import torch

    if not buffers(spec):
        return []
    rng = np.random.default_rng((seed, 37))
    for draw in range(1, TRAINING_FORWARDS + 1):
        rows = x[rng.permutation(len(x))]
        masks = masks_for(spec, len(x), seed, draw)
        impl.feed_masks(masks)
        impl.forward(rows.copy())
        hand_torch_masks(net, masks)
        with torch.no_grad():
            net(torch.as_tensor(rows))
    mine, ref = impl.buffers(), torch_buffers(net)
    return [(e.name, mine.get(e.name), ref[e.name]) for e in buffers(spec)]


def test_mode(spec, impl, net, x: np.ndarray, y: np.ndarray, torch_step) -> list[tuple[str, object, np.ndarray]]:
    """The proof again in test mode (running statistics, no dropout) on both sides, from the same running
    statistics (the reference's, so a wrong running update, judged above, does not also fail every row
    here): the loss, the logits and every parameter's gradient.  ``torch_step()`` runs autograd's forward
    and backward and gives (loss, logits)."""
    if buffers(spec):
        impl.load_buffers(torch_buffers(net))
    impl.train(False)
    net.eval()
    try:
        loss, logits, grads, _ = impl.raw_gradients(x.copy(), y.copy())
        if logits is None:
            logits = impl.forward(x.copy())
        t_loss, t_logits = torch_step()
        t_grads = {name: p.grad.detach().cpu().numpy() for name, p in net.named_parameters()}
    finally:
        impl.train(True)
        net.train()
    return [
        ("loss", np.asarray(loss, dtype=np.float64), np.asarray(t_loss, dtype=np.float64)),
        ("logits", np.asarray(logits), t_logits),
        *((name, grads.get(name), g) for name, g in t_grads.items()),
    ]
