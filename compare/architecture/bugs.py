"""The layer catalogue's batchnorm and dropout bugs (``compare.layercheck``'s codes and words), re-enacted in a
whole net: autograd's reference again with one bug planted, on the same batch, masks and running statistics.
A bug is named only where it reproduces the learner's numbers: every gradient within the tolerance in
training, or the scores in test mode."""

from __future__ import annotations

import contextlib

import numpy as np

from compare.architecture.proof import eval_logits, hand_torch_masks
from compare.architecture.registry import plan
from compare.layercheck.batchnorm import BUGS as BATCHNORM_BUGS
from compare.layercheck.dropout import BUGS as DROPOUT_BUGS
from compare.numerics import rel

# the dropout bugs of a training step: the factor a kept unit gets instead of 1/keep
DROPOUT_SCALES = {
    "dropout-not-scaled": lambda keep: 1.0,
    "dropout-scaled-twice": lambda keep: 1 / keep**2,
    "dropout-multiplied-by-keep": lambda keep: keep,
}


@contextlib.contextmanager
def dropout_scaled(net, spec, factor: float):
    """Every dropout layer of ``net`` (torch_impl's, given its mask) scaling kept units by ``factor``."""
    modules = [getattr(net, layer.name) for layer in plan(spec) if layer.kind.slot == "dropout"]

    def planted(module):
        def forward(x):
            keep, module.mask = module.mask, None
            return x * (keep.to(x.dtype) * factor) if module.training else x

        return forward

    for module in modules:
        module.forward = planted(module)
    try:
        yield
    finally:
        for module in modules:
            del module.forward


def training(spec, net, masks: dict, grads: dict, tol: float, torch_step, skip=(), logits=None) -> dict | None:
    """The dropout bug whose gradients (and training-mode scores, where the learner gives them) are the
    learner's, if one is."""
    if not spec.dropout:
        return None
    keep = 1.0 - spec.dropout
    for code, factor in DROPOUT_SCALES.items():
        with dropout_scaled(net, spec, factor(keep)):
            hand_torch_masks(net, masks)
            _, planted_logits = torch_step()
        if logits is not None and not (
            np.shape(logits) == planted_logits.shape and rel(np.asarray(logits), planted_logits) <= tol
        ):
            continue
        ref = {n: p.grad.detach().cpu().numpy() for n, p in net.named_parameters() if n not in skip}
        mine = {n: grads.get(n) for n in ref}
        if all(g is not None and np.shape(g) == ref[n].shape and rel(g, ref[n]) <= tol for n, g in mine.items()):
            return dict(code=code, layer="every dropout layer", message=DROPOUT_BUGS[code], by="re-enactment")
    return None


def test_mode(spec, net, x: np.ndarray, logits, tol: float) -> dict | None:
    """The batchnorm bug whose test-mode scores of ``x`` are the learner's ``logits``, if one is."""
    norms = [getattr(net, layer.name) for layer in plan(spec) if layer.kind.cancels_bias]
    if not norms or logits is None:
        return None
    saved = [m.eps for m in norms]
    for m in norms:
        m.eps = 0.0  # batchnorm-test-eps-missing: test mode divides by √(running var) alone
    try:
        ref = eval_logits(net, x)
    finally:
        for m, eps in zip(norms, saved):
            m.eps = eps
    logits = np.asarray(logits)
    if logits.shape == ref.shape and rel(logits, ref) <= tol:
        code = "batchnorm-test-eps-missing"
        return dict(code=code, layer="every batchnorm layer", message=BATCHNORM_BUGS[code], by="re-enactment")
    return None
