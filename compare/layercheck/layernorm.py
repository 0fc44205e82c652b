"""Layer normalization (CS231n assignment 2's ``layernorm_forward(x, gamma, beta, ln_param)`` and
``layernorm_backward``): each example normalised over its own features (axis 1), biased variance, ``eps``
inside the square root, no running statistics and no train/test difference."""

from __future__ import annotations

from compare.layercheck.base import forward_backward, grads, register, torch_inputs

EPS = 1e-5
BUGS = {
    "layernorm-over-batch": "the statistics are taken over the batch (axis 0), as batchnorm's; layernorm "
    "normalises each example over its features (axis 1)",
    "layernorm-unbiased-variance": "the variance is the unbiased one (÷ D − 1); layernorm uses the biased one (÷ D)",
    "layernorm-dgamma-dbeta-swapped": "dgamma and dbeta are swapped: dgamma = Σ dout·x̂, dbeta = Σ dout",
}


def case(rng):
    n, d = int(rng.integers(3, 9)), int(rng.integers(4, 9))  # shapes vary with the seed
    return dict(
        x=rng.normal(loc=rng.normal(size=(n, 1)) * 2, scale=rng.uniform(0.5, 2, size=(n, 1)), size=(n, d)),
        gamma=rng.uniform(0.5, 2.0, size=d),
        beta=rng.normal(size=d),
        dout=rng.normal(size=(n, d)),
    )


def reference(case, bug=None):
    x, gamma, beta = torch_inputs(case["x"], case["gamma"], case["beta"])
    axis = 0 if bug == "layernorm-over-batch" else 1
    mean = x.mean(dim=axis, keepdim=True)
    var = x.var(dim=axis, keepdim=True, unbiased=bug == "layernorm-unbiased-variance")
    out = gamma * (x - mean) / (var + EPS).sqrt() + beta
    dx, dgamma, dbeta = grads(out, [x, gamma, beta], case["dout"])
    if bug == "layernorm-dgamma-dbeta-swapped":
        dgamma, dbeta = dbeta, dgamma
    return {"out": out.detach().numpy(), "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


@register("layernorm", ("layernorm_forward", "layernorm_backward"), case=case, reference=reference, bugs=BUGS)
def layernorm(student, case):
    args = (case["x"], case["gamma"], case["beta"], {"eps": EPS})
    shapes = {"dgamma": case["gamma"].shape, "dbeta": case["beta"].shape}
    return forward_backward(
        student, "layernorm_forward", "layernorm_backward", args, case["dout"], ("dx", "dgamma", "dbeta"), shapes
    )
