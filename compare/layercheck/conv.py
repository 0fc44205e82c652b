"""Convolution and max pooling, the naive loops of CS231n assignment 2 (``conv_forward_naive(x, w, b,
conv_param)``, ``conv_backward_naive``, ``max_pool_forward_naive(x, pool_param)``,
``max_pool_backward_naive``): torch's ``conv2d`` (a cross-correlation, as the course's) with stride 2 and
pad 1 - unequal, so that swapping them shows - and ``max_pool2d`` on inputs without ties in a window."""

from __future__ import annotations

import numpy as np

from compare.layercheck.base import forward_backward, grads, register, torch_inputs

STRIDE, PAD = 2, 1
CONV_BUGS = {
    "conv-flipped-kernel": "the kernel is flipped (a true convolution); CS231n's conv layer, like torch's, is a "
    "cross-correlation: out = Σ x_window · w",
    "conv-no-pad": "the input is not zero-padded by conv_param['pad']",
    "conv-stride-ignored": "conv_param['stride'] is ignored (every position is visited)",
}
POOL_BUGS = {
    "max-pool-gradient-to-all": "the backward sends each window's gradient to every element of the window; it "
    "goes to the element that was the maximum only",
    "max-pool-gradient-averaged": "the backward spreads each window's gradient evenly (average pooling's "
    "gradient); it goes to the maximum only",
}


def conv_case(rng):
    return dict(
        x=rng.normal(size=(2, 3, 7, 7)),
        w=rng.normal(size=(4, 3, 3, 3)),
        b=rng.normal(size=4),
        dout=rng.normal(size=(2, 4, 4, 4)),
    )


def conv_reference(case, bug=None):
    import torch

    x, w, b = torch_inputs(case["x"], case["w"], case["b"])
    kernel = torch.flip(w, dims=(2, 3)) if bug == "conv-flipped-kernel" else w
    stride = 1 if bug == "conv-stride-ignored" else STRIDE
    pad = 0 if bug == "conv-no-pad" else PAD
    out = torch.nn.functional.conv2d(x, kernel, b, stride=stride, padding=pad)
    if tuple(out.shape) != case["dout"].shape:  # the bug changes the output's shape: its forward is enough
        return {"out": out.detach().numpy()}
    dx, dw, db = grads(out, [x, w, b], case["dout"])
    return {"out": out.detach().numpy(), "dx": dx, "dw": dw, "db": db}


@register(
    "conv", ("conv_forward_naive", "conv_backward_naive"), case=conv_case, reference=conv_reference, bugs=CONV_BUGS
)
def conv(student, case):
    args = (case["x"], case["w"], case["b"], {"stride": STRIDE, "pad": PAD})
    return forward_backward(
        student, "conv_forward_naive", "conv_backward_naive", args, case["dout"], ("dx", "dw", "db"),
        {"db": case["b"].shape},
    )  # fmt: skip


def pool_case(rng):
    n = 2 * 3 * 6 * 6
    x = rng.permutation(n).reshape(2, 3, 6, 6) / n + rng.normal(scale=1e-3, size=(2, 3, 6, 6))  # no ties
    return dict(x=x, dout=rng.normal(size=(2, 3, 3, 3)))


def pool_reference(case, bug=None):
    import torch

    (x,) = torch_inputs(case["x"])
    out = torch.nn.functional.max_pool2d(x, kernel_size=2, stride=2)
    (dx,) = grads(out, [x], case["dout"])
    spread = np.repeat(np.repeat(case["dout"], 2, axis=2), 2, axis=3)
    if bug == "max-pool-gradient-to-all":
        dx = spread
    elif bug == "max-pool-gradient-averaged":
        dx = spread / 4
    return {"out": out.detach().numpy(), "dx": dx}


@register(
    "max_pool",
    ("max_pool_forward_naive", "max_pool_backward_naive"),
    case=pool_case,
    reference=pool_reference,
    bugs=POOL_BUGS,
)
def max_pool(student, case):
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    return forward_backward(
        student, "max_pool_forward_naive", "max_pool_backward_naive", (case["x"], param), case["dout"], ("dx",)
    )
