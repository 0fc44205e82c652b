"""Inverted dropout (CS231n assignment 2's ``dropout_forward(x, dropout_param)`` and ``dropout_backward``).

Its mask is the learner's own random draw, so it is read from the output, never compared with torch's
random numbers: the inputs are all far from zero, so a zero in ``out`` is a dropped unit.  The judge then
checks the output and the gradient against torch's ``x·mask/keep`` through that mask, the kept fraction
against ``keep`` (a statistical check on 200,000 units: ±0.01 is 10 standard deviations), and test mode
against the identity.

``p`` means the probability of *keeping* a unit in the 2018-and-later handouts and of *dropping* it in
2016-17's.  Both are correct; the convention is read from a run at an asymmetric p (0.3: 30 % or 70 % of
units kept) and printed."""

from __future__ import annotations

import math

import numpy as np

from compare.layercheck.base import grads, register, torch_inputs

PS = (0.3, 0.8)
SEED = 231
FRACTION_TOLERANCE = 0.01
CONVENTIONS = {
    "keep": "p = the probability of keeping a unit (the 2018+ handout)",
    "drop": "p = the probability of dropping a unit (the 2016-17 handout)",
}
BUGS = {
    "dropout-not-scaled": "the kept units are not divided by the keep probability (inverted dropout scales them "
    "in training so that test mode is the identity)",
    "dropout-scaled-twice": "the kept units are divided by the keep probability twice",
    "dropout-multiplied-by-keep": "the kept units are multiplied by the keep probability; inverted dropout divides",
    "dropout-mask-not-uniform": "the mask is drawn from a normal distribution (np.random.randn < p); it must be "
    "uniform (np.random.rand(*x.shape) < keep) so that each unit is kept with probability keep",
    "dropout-test-scaled": "test mode scales the input; with inverted dropout, test mode returns x unchanged",
}


def case(rng):
    x = rng.uniform(0.5, 1.5, size=(400, 500)) * rng.choice([-1.0, 1.0], size=(400, 500))
    return dict(x=x, dout=rng.normal(size=x.shape))


def phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def keep_of(p: float, convention: str) -> float:
    return p if convention == "keep" else 1 - p


def read_convention(kept: dict, scales: dict) -> str:
    """Which meaning of p the learner's code follows: the kept fraction at p = 0.3, else the scale."""
    k = kept[PS[0]]
    if abs(k - PS[0]) <= FRACTION_TOLERANCE:
        return "keep"
    if abs(k - (1 - PS[0])) <= FRACTION_TOLERANCE:
        return "drop"
    s = scales[PS[0]]
    return "drop" if s and abs(s - 1 / (1 - PS[0])) < abs(s - 1 / PS[0]) else "keep"


def reference(case, bug=None):
    import torch

    out = {}
    convention = case["convention"]
    for p in PS:
        keep, mask = keep_of(p, convention), case["masks"][p]
        (x,) = torch_inputs(case["x"])
        scale = {
            "dropout-not-scaled": 1.0,
            "dropout-scaled-twice": 1 / keep**2,
            "dropout-multiplied-by-keep": keep,
        }.get(bug, 1 / keep)
        y = x * torch.tensor(mask, dtype=torch.float64) * scale
        (dx,) = grads(y, [x], case["dout"])
        measured = case["kept"][p]
        expected = [keep] if bug != "dropout-mask-not-uniform" else [phi(p), 1 - phi(p)]
        near = [e for e in expected if abs(measured - e) <= FRACTION_TOLERANCE]
        out[f"kept fraction (p={p})"] = np.float64(measured if near else expected[0])
        out[f"train out (p={p})"] = y.detach().numpy()
        out[f"dx (p={p})"] = dx
        out[f"test out (p={p})"] = case["x"] * (keep if bug == "dropout-test-scaled" else 1.0)
    return out


@register("dropout", ("dropout_forward", "dropout_backward"), case=case, reference=reference, bugs=BUGS)
def dropout(student, case):
    mine, kept, scales, caches = {}, {}, {}, {}
    x = case["x"]
    for p in PS:
        y, cache = student.call(
            "dropout_forward", x.copy(), {"mode": "train", "p": p, "seed": SEED}, returns=2, what="out, cache"
        )
        y = np.asarray(y, dtype=np.float64)
        mask = (y != 0) if y.shape == x.shape else np.zeros(x.shape, bool)
        kept[p] = float(mask.mean())
        scales[p] = float(np.median(y[mask] / x[mask])) if mask.any() else None
        case.setdefault("masks", {})[p] = mask
        mine[f"kept fraction (p={p})"] = np.float64(kept[p])
        mine[f"train out (p={p})"] = y
        caches[p] = cache
        test, _ = student.call(
            "dropout_forward", x.copy(), {"mode": "test", "p": p, "seed": SEED}, returns=2, what="out, cache"
        )
        mine[f"test out (p={p})"] = test
    case["kept"], case["convention"] = kept, read_convention(kept, scales)
    for p in PS:
        dx = student.optional("dropout_backward", case["dout"].copy(), caches[p])
        if dx is not None:
            mine[f"dx (p={p})"] = dx
    return {**mine, "_convention": CONVENTIONS[case["convention"]]}
