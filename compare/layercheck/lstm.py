"""The LSTM of CS231n assignment 3 (``lstm_step_forward/backward``, ``lstm_forward/backward``), with the
course's gate order - a = x·Wx + h·Wh + b split into (i, f, o, g), not ``nn.LSTM``'s (i, f, g, o) - and the
cell starting at zero: c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t)."""

from __future__ import annotations

import numpy as np

from compare.layercheck.base import forward_backward, grads, register, torch_inputs

BUGS = {
    "lstm-gate-order": "the gates are read in torch's order (i, f, g, o); the course splits a into (i, f, o, g)",
    "lstm-forget-gate-missing": "the cell is c = c_prev + i ⊙ g: the forget gate must scale the previous cell, "
    "c = f ⊙ c_prev + i ⊙ g",
}
ORDER = {"course": (0, 1, 2, 3), "lstm-gate-order": (0, 1, 3, 2)}  # positions of i, f, o, g in a's four blocks


def step(x, prev_h, prev_c, wx, wh, b, bug=None):
    """One LSTM step in torch ops: (next_h, next_c)."""
    a = x @ wx + prev_h @ wh + b
    blocks = a.chunk(4, dim=1)
    i, f, o, g = (blocks[k] for k in ORDER.get(bug, ORDER["course"]))
    i, f, o, g = i.sigmoid(), f.sigmoid(), o.sigmoid(), g.tanh()
    next_c = (prev_c if bug == "lstm-forget-gate-missing" else f * prev_c) + i * g
    return o * next_c.tanh(), next_c


def step_case(rng):
    n, d, h = (int(v) for v in rng.integers([2, 3, 2], [5, 6, 5]))
    return dict(
        x=rng.normal(size=(n, d)),
        prev_h=rng.normal(size=(n, h)),
        prev_c=rng.normal(size=(n, h)),
        Wx=rng.normal(size=(d, 4 * h)) * 0.5,
        Wh=rng.normal(size=(h, 4 * h)) * 0.5,
        b=rng.normal(size=4 * h),
        dnext_h=rng.normal(size=(n, h)),
        dnext_c=rng.normal(size=(n, h)),
    )


def step_reference(case, bug=None):
    import torch

    inputs = torch_inputs(*(case[k] for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b")))
    next_h, next_c = step(*inputs, bug=bug)
    both = torch.cat([next_h, next_c], dim=1)
    got = grads(both, inputs, np.concatenate([case["dnext_h"], case["dnext_c"]], axis=1))
    names = ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")
    return {"next_h": next_h.detach().numpy(), "next_c": next_c.detach().numpy(), **dict(zip(names, got))}


@register("lstm_step", ("lstm_step_forward", "lstm_step_backward"), case=step_case, reference=step_reference, bugs=BUGS)
def lstm_step(student, case):
    args = [case[k].copy() for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b")]
    next_h, next_c, cache = student.call("lstm_step_forward", *args, returns=3, what="next_h, next_c, cache")
    got = student.optional(
        "lstm_step_backward",
        case["dnext_h"].copy(),
        case["dnext_c"].copy(),
        cache,
        returns=6,
        what="dx, dprev_h, dprev_c, dWx, dWh, db",
    )
    out = {"next_h": next_h, "next_c": next_c}
    if got is not None:
        out.update(zip(("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), got))
    return out


def seq_case(rng):
    n, t, d, h = (int(v) for v in rng.integers([2, 2, 3, 2], [4, 5, 5, 4]))
    return dict(
        x=rng.normal(size=(n, t, d)),
        h0=rng.normal(size=(n, h)),
        Wx=rng.normal(size=(d, 4 * h)) * 0.5,
        Wh=rng.normal(size=(h, 4 * h)) * 0.5,
        b=rng.normal(size=4 * h),
        dh=rng.normal(size=(n, t, h)),
    )


def seq_reference(case, bug=None):
    import torch

    x, h0, wx, wh, b = torch_inputs(*(case[k] for k in ("x", "h0", "Wx", "Wh", "b")))
    prev_h, prev_c, hs = h0, torch.zeros_like(h0), []
    for t in range(x.shape[1]):
        prev_h, prev_c = step(x[:, t], prev_h, prev_c, wx, wh, b, bug)
        hs.append(prev_h)
    h = torch.stack(hs, dim=1)
    got = grads(h, [x, h0, wx, wh, b], case["dh"])
    return {"h": h.detach().numpy(), **dict(zip(("dx", "dh0", "dWx", "dWh", "db"), got))}


@register("lstm", ("lstm_forward", "lstm_backward"), case=seq_case, reference=seq_reference, bugs=BUGS)
def lstm(student, case):
    inputs = tuple(case[k] for k in ("x", "h0", "Wx", "Wh", "b"))
    grads = ("dx", "dh0", "dWx", "dWh", "db")
    return forward_backward(student, "lstm_forward", "lstm_backward", inputs, case["dh"], grads, output="h")
