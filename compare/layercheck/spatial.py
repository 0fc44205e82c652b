"""Normalization over images (CS231n assignment 2's ``spatial_batchnorm_forward/backward`` and
``spatial_groupnorm_forward/backward``), in the course's conventions.  Spatial batchnorm is batchnorm over
every (N, H, W) position of a channel, with its running statistics as ``batchnorm``'s; group norm
normalises each example over each group of C/G channels and all positions, with ``gamma`` and ``beta`` of
shape (1, C, 1, 1), no running statistics."""

from __future__ import annotations

import copy

import numpy as np

from compare.layercheck.base import as_shape, forward_backward, grads, register, torch_inputs
from compare.layercheck.batchnorm import EPS, MOMENTUM

SPATIAL_BN_BUGS = {
    "spatial-batchnorm-axes": "the statistics are taken over the wrong axes: a channel's statistics cover every "
    "example and position, axes (0, 2, 3) - transpose to (N·H·W, C), normalise, transpose back",
    "batchnorm-test-eps-missing": "test mode divides by sqrt(running_var) without eps: use sqrt(running_var + eps)",
    "running-var-eps": "the running variance accumulates var + eps; it accumulates the batch variance itself",
}
GROUPNORM_BUGS = {
    "groupnorm-over-channels-only": "each group's statistics must cover its channels *and* every position "
    "(x.reshape(N, G, -1)); they were taken per position",
    "groupnorm-layernorm": "the statistics cover all channels (layer norm): group norm takes each group of C/G "
    "channels separately",
}


def bn_case(rng):
    n, c = int(rng.integers(2, 4)), int(rng.integers(2, 5))
    shape = (n, c, 3, 4)
    xs = [
        rng.normal(loc=rng.normal(size=(1, c, 1, 1)) * 2, scale=rng.uniform(0.5, 2, size=(1, c, 1, 1)), size=shape)
        for _ in range(3)
    ]
    return dict(
        xs=xs,
        x_test=rng.normal(size=shape),
        gamma=rng.uniform(0.5, 2, size=c),
        beta=rng.normal(size=c),
        dout=rng.normal(size=shape),
    )


def bn_reference(case, bug=None):

    c = case["gamma"].size
    run_mean, run_var = np.zeros(c), np.zeros(c)
    out = {}
    axes = (0, 2, 3) if bug != "spatial-batchnorm-axes" else (0, 1)
    for k, xk in enumerate(case["xs"]):
        x, gamma, beta = torch_inputs(xk, case["gamma"], case["beta"])
        g, b = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
        mean = x.mean(dim=axes, keepdim=True)
        var = x.var(dim=axes, keepdim=True, unbiased=False)
        y = g * (x - mean) / (var + EPS).sqrt() + b
        if bug != "spatial-batchnorm-axes":
            m, v = mean.detach().numpy().reshape(-1), var.detach().numpy().reshape(-1)
            v = v + EPS if bug == "running-var-eps" else v
            run_mean, run_var = MOMENTUM * run_mean + (1 - MOMENTUM) * m, MOMENTUM * run_var + (1 - MOMENTUM) * v
        out[f"train out {k + 1}"] = y.detach().numpy()
        if k == 0:
            out["dx"], out["dgamma"], out["dbeta"] = grads(y, [x, gamma, beta], case["dout"])
    if bug == "spatial-batchnorm-axes":
        return {k: v for k, v in out.items() if k.startswith("train out")}
    out["running_mean"], out["running_var"] = run_mean, run_var
    eps = 0.0 if bug == "batchnorm-test-eps-missing" else EPS
    shape = (1, -1, 1, 1)
    test = (
        case["gamma"].reshape(shape)
        * (case["x_test"] - run_mean.reshape(shape))
        / np.sqrt(run_var.reshape(shape) + eps)
    )
    out["test out"] = test + case["beta"].reshape(shape)
    return out


@register(
    "spatial_batchnorm",
    ("spatial_batchnorm_forward", "spatial_batchnorm_backward"),
    case=bn_case,
    reference=bn_reference,
    bugs=SPATIAL_BN_BUGS,
)
def spatial_batchnorm(student, case):
    bn_param = {"mode": "train", "eps": EPS, "momentum": MOMENTUM}
    out, first = {}, None
    for k, x in enumerate(case["xs"]):
        y, cache = student.call(
            "spatial_batchnorm_forward",
            x.copy(),
            case["gamma"].copy(),
            case["beta"].copy(),
            bn_param,
            returns=2,
            what="out, cache",
        )
        out[f"train out {k + 1}"] = np.array(y, copy=True)
        first = copy.deepcopy(cache) if k == 0 else first
    for key in ("running_mean", "running_var"):
        if bn_param.get(key) is not None:
            out[key] = np.asarray(bn_param[key]).reshape(-1)
    bn_param["mode"] = "test"
    out["test out"] = student.call(
        "spatial_batchnorm_forward",
        case["x_test"].copy(),
        case["gamma"].copy(),
        case["beta"].copy(),
        bn_param,
        returns=2,
        what="out, cache",
    )[0]
    got = student.optional(
        "spatial_batchnorm_backward", case["dout"].copy(), first, returns=3, what="dx, dgamma, dbeta"
    )
    if got is not None:
        dx, dgamma, dbeta = got
        out.update(dx=dx, dgamma=as_shape(dgamma, case["gamma"].shape), dbeta=as_shape(dbeta, case["beta"].shape))
    return out


def gn_case(rng):
    g = int(rng.integers(2, 4))
    c = g * int(rng.integers(1, 3))
    shape = (int(rng.integers(2, 4)), c, 3, 3)
    return dict(
        x=rng.normal(loc=rng.normal(size=(shape[0], c, 1, 1)) * 2, size=shape),
        gamma=rng.uniform(0.5, 2, size=(1, c, 1, 1)),
        beta=rng.normal(size=(1, c, 1, 1)),
        G=g,
        dout=rng.normal(size=shape),
    )


def gn_reference(case, bug=None):
    x, gamma, beta = torch_inputs(case["x"], case["gamma"], case["beta"])
    n, c, h, w = x.shape
    g = case["G"]
    if bug == "groupnorm-over-channels-only":
        groups = x.reshape(n, g, c // g, h * w)
        dims = (2,)
    elif bug == "groupnorm-layernorm":
        groups, dims = x.reshape(n, 1, -1), (2,)
    else:
        groups, dims = x.reshape(n, g, -1), (2,)
    mean = groups.mean(dim=dims, keepdim=True)
    var = groups.var(dim=dims, keepdim=True, unbiased=False)
    y = ((groups - mean) / (var + EPS).sqrt()).reshape(n, c, h, w) * gamma + beta
    dx, dgamma, dbeta = grads(y, [x, gamma, beta], case["dout"])
    return {"out": y.detach().numpy(), "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


@register(
    "spatial_groupnorm",
    ("spatial_groupnorm_forward", "spatial_groupnorm_backward"),
    case=gn_case,
    reference=gn_reference,
    bugs=GROUPNORM_BUGS,
)
def spatial_groupnorm(student, case):
    args = (case["x"], case["gamma"], case["beta"], case["G"], {"eps": EPS})
    shapes = {"dgamma": case["gamma"].shape, "dbeta": case["beta"].shape}
    return forward_backward(
        student, "spatial_groupnorm_forward", "spatial_groupnorm_backward", args, case["dout"],
        ("dx", "dgamma", "dbeta"), shapes,
    )  # fmt: skip
