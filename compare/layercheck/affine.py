"""Affine and ReLU layers (CS231n assignment 2's ``affine_forward/backward`` and ``relu_forward/backward``,
and ``layer_utils``'s ``affine_relu_forward/backward`` when present): torch's ``x.reshape(N, -1) @ w + b``
and ``clamp(min=0)``; ReLU inputs kept away from its kink at 0."""

from __future__ import annotations

import numpy as np

from compare.layercheck.base import forward_backward, grads, register, torch_inputs

AFFINE_BUGS = {
    "affine-backward-batch-mean": "dw and db are divided by the batch size: the loss already averages, so "
    "the layer's gradient is the plain sum over the batch",
    "affine-dx-not-reshaped": "dx is returned flat, (N, D); it must have x's own shape (N, d1, ..., dk): "
    "dx = (dout @ w.T).reshape(x.shape)",
    "affine-dw-transposed": "dw is transposed: dw = x.reshape(N, -1).T @ dout has w's shape (D, M)",
}
RELU_BUGS = {
    "relu-backward-passes-all": "the backward passes dout through everywhere; it must be dout where x > 0, else 0",
    "relu-backward-mask-inverted": "the backward passes dout where x < 0; it must be where x > 0",
}


def affine_case(rng):
    return dict(
        x=rng.normal(size=(4, 3, 2)), w=rng.normal(size=(6, 5)), b=rng.normal(size=5), dout=rng.normal(size=(4, 5))
    )


def affine_reference(case, bug=None):
    x, w, b = torch_inputs(case["x"], case["w"], case["b"])
    out = x.reshape(x.shape[0], -1) @ w + b
    dx, dw, db = grads(out, [x, w, b], case["dout"])
    n = x.shape[0]
    if bug == "affine-backward-batch-mean":
        dw, db = dw / n, db / n
    elif bug == "affine-dx-not-reshaped":
        dx = dx.reshape(n, -1)
    elif bug == "affine-dw-transposed":
        if dw.shape[0] == dw.shape[1]:
            return None
        dw = dw.T
    return {"out": out.detach().numpy(), "dx": dx, "dw": dw, "db": db}


@register(
    "affine", ("affine_forward", "affine_backward"), case=affine_case, reference=affine_reference, bugs=AFFINE_BUGS
)
def affine(student, case):
    args = (case["x"], case["w"], case["b"])
    return forward_backward(
        student, "affine_forward", "affine_backward", args, case["dout"], ("dx", "dw", "db"), {"db": case["b"].shape}
    )


def relu_case(rng):
    shape = tuple(int(v) for v in rng.integers(2, 8, size=2))
    x = rng.normal(size=shape)
    return dict(x=np.sign(x) * (np.abs(x) + 0.1), dout=rng.normal(size=shape))  # no input near the kink


def relu_reference(case, bug=None):
    (x,) = torch_inputs(case["x"])
    out = x.clamp(min=0)
    (dx,) = grads(out, [x], case["dout"])
    if bug == "relu-backward-passes-all":
        dx = case["dout"].copy()
    elif bug == "relu-backward-mask-inverted":
        dx = case["dout"] * (case["x"] < 0)
    return {"out": out.detach().numpy(), "dx": dx}


@register("relu", ("relu_forward", "relu_backward"), case=relu_case, reference=relu_reference, bugs=RELU_BUGS)
def relu(student, case):
    return forward_backward(student, "relu_forward", "relu_backward", (case["x"],), case["dout"], ("dx",))


def affine_relu_reference(case, bug=None):
    if bug is not None:
        return None
    x, w, b = torch_inputs(case["x"], case["w"], case["b"])
    out = (x.reshape(x.shape[0], -1) @ w + b).clamp(min=0)
    dx, dw, db = grads(out, [x, w, b], case["dout"])
    return {"out": out.detach().numpy(), "dx": dx, "dw": dw, "db": db}


def affine_relu_case(rng):
    case = affine_case(rng)
    pre = case["x"].reshape(len(case["x"]), -1) @ case["w"] + case["b"]
    case["b"] = case["b"] + np.where(np.abs(pre) < 0.1, 0.2, 0.0).max(axis=0)  # keep the ReLU off its kink
    return case


@register(
    "affine_relu",
    ("affine_relu_forward", "affine_relu_backward"),
    case=affine_relu_case,
    reference=affine_relu_reference,
    bugs={},
)
def affine_relu(student, case):
    args = (case["x"], case["w"], case["b"])
    return forward_backward(
        student, "affine_relu_forward", "affine_relu_backward", args, case["dout"], ("dx", "dw", "db"),
        {"db": case["b"].shape},
    )  # fmt: skip
