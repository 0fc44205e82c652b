"""Batch normalization (CS231n assignment 2's ``batchnorm_forward(x, gamma, beta, bn_param)``,
``batchnorm_backward`` and ``batchnorm_backward_alt``), in the course's conventions, not torch's module
defaults: statistics over the batch with the *biased* variance, running statistics that start at zero and
move as ``running = momentum·running + (1 − momentum)·batch`` with momentum 0.9 the weight on the old value
(torch's ``BatchNorm1d`` momentum 0.1 is the weight on the new one, and its running variance is unbiased),
``eps`` inside the square root, and test mode normalising with the running statistics.  ``eps`` and
``momentum`` are passed explicitly.  Three train-mode calls move the running statistics, one test-mode
call reads them; the backwards get the cache of the first call."""

from __future__ import annotations

import copy

import numpy as np

from compare.layercheck.base import as_shape, grads, register, torch_inputs

EPS, MOMENTUM = 1e-5, 0.9
CONVENTION = "course: biased batch variance, momentum 0.9 on the old running value (torch: 0.1 on the new, unbiased running variance)"
BUGS = {
    "batchnorm-test-eps-missing": "test mode divides by sqrt(running_var) without eps: use sqrt(running_var + eps)",
    "running-var-eps": "the running variance accumulates var + eps; it accumulates the batch variance itself",
    "running-stats-momentum-swapped": "the running statistics weigh the new batch by momentum: running = "
    "momentum·running + (1 − momentum)·batch",
    "batchnorm-unbiased-variance": "the batch variance is the unbiased one (÷ N − 1); batchnorm normalises by the "
    "biased variance (÷ N), np.var's default",
    "batchnorm-backward-no-dvar": "the backward drops the path through the variance: dx needs "
    "dvar·2(x − μ)/N, with dvar = Σ dx̂·(x − μ)·(−½)(σ² + eps)^−3/2",
    "batchnorm-backward-no-dmean": "the backward drops the path through the mean: dx needs dμ/N, with "
    "dμ = −Σ dx̂ / sqrt(σ² + eps)",
    "batchnorm-backward-direct-only": "the backward keeps only dx̂/sqrt(σ² + eps): the paths through the mean and "
    "the variance are both missing",
    "batchnorm-dgamma-dbeta-swapped": "dgamma and dbeta are swapped: dgamma = Σ dout·x̂, dbeta = Σ dout",
}


def case(rng):
    n, d = int(rng.integers(6, 13)), int(rng.integers(3, 7))  # shapes vary with the seed
    xs = [rng.normal(loc=rng.normal(size=d) * 3, scale=rng.uniform(0.5, 3, size=d), size=(n, d)) for _ in range(3)]
    return dict(
        xs=xs,
        x_test=rng.normal(size=(5, d)) * 2,
        gamma=rng.uniform(0.5, 2.0, size=d),
        beta=rng.normal(size=d),
        dout=rng.normal(size=(n, d)),
    )


def normalise(x, gamma, beta, bug=None):
    """The train-mode forward in torch: (out, batch mean, batch variance)."""
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=bug == "batchnorm-unbiased-variance")
    return gamma * (x - mean) / (var + EPS).sqrt() + beta, mean, var


def backward_variant(x, gamma, dout, bug):
    """dx of a backward with a term dropped (its catalogue entry), in closed form."""
    n = x.shape[0]
    mu, var = x.mean(axis=0), x.var(axis=0)
    std = np.sqrt(var + EPS)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * (x - mu), axis=0) * -0.5 * (var + EPS) ** -1.5
    dmu = -np.sum(dxhat, axis=0) / std
    direct = dxhat / std
    if bug == "batchnorm-backward-no-dvar":
        return direct + dmu / n
    if bug == "batchnorm-backward-no-dmean":
        return direct + dvar * 2 * (x - mu) / n
    return direct


def reference(case, bug=None, backward_name="dx"):
    import torch

    run_mean, run_var = np.zeros(case["gamma"].size), np.zeros(case["gamma"].size)
    out = {}
    for k, xk in enumerate(case["xs"]):
        x, gamma, beta = torch_inputs(xk, case["gamma"], case["beta"])
        y, mean, var = normalise(x, gamma, beta, bug)
        mean, var = mean.detach().numpy(), var.detach().numpy()
        if bug == "running-var-eps":
            var = var + EPS
        if bug == "running-stats-momentum-swapped":
            run_mean = (1 - MOMENTUM) * run_mean + MOMENTUM * mean
            run_var = (1 - MOMENTUM) * run_var + MOMENTUM * var
        else:
            run_mean = MOMENTUM * run_mean + (1 - MOMENTUM) * mean
            run_var = MOMENTUM * run_var + (1 - MOMENTUM) * var
        out[f"train out {k + 1}"] = y.detach().numpy()
        if k == 0:
            dx, dgamma, dbeta = grads(y, [x, gamma, beta], case["dout"])
            if bug and bug.startswith("batchnorm-backward"):
                dx = backward_variant(xk, case["gamma"], case["dout"], bug)
            if bug == "batchnorm-dgamma-dbeta-swapped":
                dgamma, dbeta = dbeta, dgamma
            out.update({backward_name: dx, "dgamma": dgamma, "dbeta": dbeta})
    out["running_mean"], out["running_var"] = run_mean, run_var
    eps = 0.0 if bug == "batchnorm-test-eps-missing" else EPS
    xt = torch.tensor(case["x_test"])
    test = torch.tensor(case["gamma"]) * (xt - torch.tensor(run_mean)) / torch.sqrt(torch.tensor(run_var) + eps)
    out["test out"] = (test + torch.tensor(case["beta"])).numpy()
    return out


def forward_calls(student, case, name="batchnorm_forward"):
    """Three train-mode calls on one bn_param (the learner's forward keeps its running statistics there),
    then one test-mode call; the cache of the first call."""
    bn_param = {"mode": "train", "eps": EPS, "momentum": MOMENTUM}
    out, first = {}, None
    for k, x in enumerate(case["xs"]):
        y, cache = student.call(
            name, x.copy(), case["gamma"].copy(), case["beta"].copy(), bn_param, returns=2, what="out, cache"
        )
        out[f"train out {k + 1}"] = np.array(y, copy=True)
        if k == 0:
            first = copy.deepcopy(cache)  # a later call must not change what the backward reads
    out["running_mean"] = bn_param.get("running_mean")
    out["running_var"] = bn_param.get("running_var")
    bn_param["mode"] = "test"
    out["test out"] = student.call(
        name, case["x_test"].copy(), case["gamma"].copy(), case["beta"].copy(), bn_param, returns=2, what="out, cache"
    )[0]
    return {k: v for k, v in out.items() if v is not None}, first


@register("batchnorm", ("batchnorm_forward", "batchnorm_backward"), case=case, reference=reference, bugs=BUGS)
def batchnorm(student, case):
    out, cache = forward_calls(student, case)
    got = student.optional("batchnorm_backward", case["dout"].copy(), cache, returns=3, what="dx, dgamma, dbeta")
    if got is not None:
        dx, dgamma, dbeta = got
        out.update(dx=dx, dgamma=as_shape(dgamma, case["gamma"].shape), dbeta=as_shape(dbeta, case["beta"].shape))
    return {**out, "_convention": CONVENTION}


def alt_reference(case, bug=None):
    full = reference(case, bug)
    return {k: full[k] for k in ("dx", "dgamma", "dbeta")}


@register(
    "batchnorm_backward_alt",
    ("batchnorm_backward_alt", "batchnorm_forward"),
    case=case,
    reference=alt_reference,
    bugs={k: v for k, v in BUGS.items() if k.startswith("batchnorm-backward") or k == "batchnorm-dgamma-dbeta-swapped"},
)
def batchnorm_backward_alt(student, case):
    _, cache = forward_calls(student, case)
    got = student.optional("batchnorm_backward_alt", case["dout"].copy(), cache, returns=3, what="dx, dgamma, dbeta")
    if got is None:
        return {}
    dx, dgamma, dbeta = got
    return {"dx": dx, "dgamma": as_shape(dgamma, case["gamma"].shape), "dbeta": as_shape(dbeta, case["beta"].shape)}
