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

    amplification = 1.0  # the most any batchnorm unit's 1/√(σ² + ε) exceeds its layer's median one (levels())

    def levels(self, rows: int, dtype) -> dict[str, float]:
        import torch

        for h in self.hooks:
            h.remove()
        eps = float(np.finfo(np.dtype(dtype)).eps)
        out = {}
        for bias, (module, x, y) in self.seen.items():
            with torch.no_grad():
                inv_std = 1.0 / torch.sqrt(x.var(dim=0, unbiased=False) + module.eps)
                self.amplification = max(self.amplification, float(inv_std.max() / inv_std.median()))
            if y.grad is None:
                continue
            with torch.no_grad():
                term = (module.weight.abs() * inv_std * y.grad.abs().amax(dim=0)).max()
            out[bias] = 4 * rows * eps * (2 + rows**0.5) * float(term)
        return out


def eval_logits(net, x: np.ndarray) -> np.ndarray:
    """Autograd's logits of ``x`` in evaluation mode (running statistics, no dropout), its mode kept."""
    import torch

    training = net.training
    net.eval()
    try:
        with torch.no_grad():
            return net(torch.as_tensor(x)).numpy()
    finally:
        net.train(training)


def train_logits(net, x: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """Autograd's training-mode logits of ``x`` with ``masks``, its running statistics put back after."""
    import torch

    saved = {name: b.detach().clone() for name, b in net.named_buffers()}
    device = next(net.parameters()).device
    hand_torch_masks(net, {name: keep for name, keep in masks.items()})
    for name in masks:
        getattr(net, name).mask = getattr(net, name).mask.to(device)
    try:
        with torch.no_grad():
            return net(torch.as_tensor(np.asarray(x), device=device)).cpu().numpy()
    finally:
        with torch.no_grad():
            for name, b in net.named_buffers():
                b.copy_(saved[name])


def torch_buffers(net) -> dict[str, np.ndarray]:
    return {name: b.detach().cpu().numpy().copy() for name, b in net.named_buffers()}


def follow_biased_variance(spec, net) -> list:
    """Autograd's batchnorm with the CS231n handout's running variance, the batch's biased one (torch keeps the
    unbiased one), for a learner whose code does so: a correct convention, so the reference follows it.  Each
    training forward's update is redone from the value before it: (1 − momentum)·old + momentum·var_biased.
    Returns the hooks (``.remove()`` each to stop)."""
    import torch

    hooks = []
    for layer in plan(spec):
        if not layer.kind.cancels_bias:  # batchnorm's kinds: those with batch statistics
            continue
        module = getattr(net, layer.name)
        before = {}

        def keep_old(m, inputs, before=before):
            if m.training:
                before["var"] = m.running_var.detach().clone()

        def redo(m, inputs, output, before=before):
            if m.training and "var" in before:
                with torch.no_grad():  # a new buffer: autograd saved the old one for this step's backward
                    var = inputs[0].detach().var(dim=0, unbiased=False).to(m.running_var.dtype)
                    m.running_var = (1 - m.momentum) * before.pop("var") + m.momentum * var

        hooks += [module.register_forward_pre_hook(keep_old), module.register_forward_hook(redo)]
    return hooks


def running_statistics(
    spec, impl, net, x: np.ndarray, y: np.ndarray, seed: int, start: dict[str, np.ndarray]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """From the same running statistics ``start``, both sides run ``TRAINING_FORWARDS`` training steps (each of
    the batch's rows in another order, with the judge's masks); then each running statistic the hand-written
    side keeps is read from both (the reference follows a convention's biased running variance)."""
    import torch

    entries = buffers(spec)
    if not entries:
        return []
    initial = {e.name: np.asarray(start[e.name]) for e in entries}
    impl.load_buffers(initial)
    with torch.no_grad():
        for name, b in net.named_buffers():
            b.copy_(torch.as_tensor(initial[name]))
    hooks = follow_biased_variance(spec, net) if getattr(impl, "running_var_biased", False) else []
    rng = np.random.default_rng((seed, 37))
    for draw in range(1, TRAINING_FORWARDS + 1):
        order = rng.permutation(len(x))
        masks = masks_for(spec, len(x), seed, draw)
        impl.feed_masks(masks)
        impl.raw_gradients(x[order].copy(), y[order].copy())  # a training step's forward (and backward)
        hand_torch_masks(net, masks)
        with torch.no_grad():
            net(torch.as_tensor(x[order]))
    for hook in hooks:
        hook.remove()
    mine, ref = impl.buffers(), torch_buffers(net)
    kept = [e for e in entries if e.name in mine or e.role.name != "batches counted"]  # the course counts none
    return [(e.name, mine.get(e.name), ref[e.name]) for e in kept]


def test_mode(spec, impl, net, x: np.ndarray, y: np.ndarray, torch_step) -> list[tuple[str, object, np.ndarray]]:
    """The proof again in test mode (running statistics, no dropout) on both sides, from the same running
    statistics (the reference's, so a wrong running update, judged above, does not also fail every row
    here): the loss, the logits and every parameter's gradient - or the logits alone where the convention
    has no test-mode backward (CS231n's ``loss(X)``).  ``torch_step()`` runs autograd's forward and backward
    and gives (loss, logits)."""
    import torch

    if buffers(spec):
        impl.load_buffers(torch_buffers(net))
    impl.train(False)
    net.eval()
    try:
        if not getattr(impl, "backprop_in_test_mode", True):
            logits = impl.forward(x.copy())
            with torch.no_grad():
                t_logits = net(torch.as_tensor(x)).numpy()
            return [("logits", np.asarray(logits), t_logits)]
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
