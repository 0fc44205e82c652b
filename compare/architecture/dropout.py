"""Inverted dropout (``manual.layers.Dropout``, ``torch_impl.layers.Dropout``): no parameters; its masks
are drawn by the judge, once per step, and handed to both twins (``draw_masks``)."""

from __future__ import annotations

import numpy as np

from compare.architecture.registry import LayerKind, plan, register

DROPOUT = register(
    LayerKind(
        "dropout",
        slot="dropout",
        prefix="drop",
        conventions=(
            "dropout: p = {p:g} is the probability of dropping a unit (torch's meaning; CS231n's "
            "dropout_keep_ratio is 1 − p, and its dropout_param['p'] keeps in the 2018+ handouts, drops in "
            "earlier ones), inverted: kept units ×1/(1 − p) in training, nothing in evaluation; both sides get "
            "the judge's masks each step"
        ),
    )
)


def draw_masks(spec, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One step's keep-masks (bool, True = kept), one per dropout layer of the spec: the judge hands the same
    ones to both twins."""
    return {
        layer.name: rng.random((rows, layer.fan_out)) >= layer.p
        for layer in plan(spec)
        if layer.kind is DROPOUT and layer.p
    }


def step_masks(spec, seed: int, epoch: int, step: int, rows: int) -> dict[str, np.ndarray]:
    """The keep-masks of one training step: a pure function of (seed, epoch, step), as the batch order is, so
    a resumed run draws exactly the masks the uninterrupted one did.  Empty without dropout (nothing drawn)."""
    if not getattr(spec, "dropout", 0.0):
        return {}
    return draw_masks(spec, rows, np.random.default_rng((seed, epoch, step, 0xD0)))
