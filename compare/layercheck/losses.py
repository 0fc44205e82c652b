"""The losses at the top of a CS231n net: ``softmax_loss(x, y)`` and ``svm_loss(x, y)`` → (loss, dx), the
mean over the batch.  Softmax is also judged on scores in the thousands, where an implementation that
does not subtract the row maximum overflows."""

from __future__ import annotations

import numpy as np

from compare.layercheck.base import OVERFLOWS, grads, register, torch_inputs

SOFTMAX_BUGS = {
    "softmax-not-stabilised": "exp of raw scores overflows for large scores: subtract each row's maximum first "
    "(softmax is unchanged by it)",
    "softmax-loss-not-averaged": "the loss and dx are sums over the batch; both are the batch mean (divide by N)",
    "softmax-dx-not-averaged": "dx is not divided by N, while the loss is the batch mean",
}
SVM_BUGS = {
    "svm-margin": "the correct class's own margin (always 1) is counted in the loss: exclude j = y",
    "svm-not-averaged": "the loss and dx are sums over the batch; both are the batch mean (divide by N)",
    "svm-dx-not-averaged": "dx is not divided by N, while the loss is the batch mean",
}


def loss_case(rng):
    n, c = int(rng.integers(4, 10)), int(rng.integers(3, 8))  # shapes vary with the seed
    return dict(x=rng.normal(size=(n, c)), y=rng.integers(0, c, n), big=rng.normal(size=(n, c)) * 1000)


def softmax_reference(case, bug=None):
    import torch

    out = {}
    for key, scores in (("", case["x"]), ("large scores: ", case["big"])):
        if key and bug == "softmax-not-stabilised":  # exp(1000) is inf: the loss is NaN or inf (dx may be anything)
            out[f"{key}loss"] = OVERFLOWS
            continue
        (x,) = torch_inputs(scores)
        loss = torch.nn.functional.cross_entropy(x, torch.tensor(case["y"]))
        (dx,) = grads(loss, [x], np.float64(1.0))
        n = len(scores)
        if bug == "softmax-loss-not-averaged":
            loss, dx = loss * n, dx * n
        elif bug == "softmax-dx-not-averaged":
            dx = dx * n
        out[f"{key}loss"], out[f"{key}dx"] = loss.detach().numpy(), dx
    return out


@register("softmax_loss", ("softmax_loss",), case=loss_case, reference=softmax_reference, bugs=SOFTMAX_BUGS)
def softmax_loss(student, case):
    out = {}
    for key, scores in (("", case["x"]), ("large scores: ", case["big"])):
        loss, dx = student.call("softmax_loss", scores.copy(), case["y"].copy(), returns=2, what="loss, dx")
        out[f"{key}loss"], out[f"{key}dx"] = loss, dx
    return out


def svm_reference(case, bug=None):
    import torch

    (x,) = torch_inputs(case["x"])
    n = len(x)
    correct = x[range(n), case["y"]].unsqueeze(1)
    margins = torch.clamp(x - correct + 1.0, min=0.0)
    if bug != "svm-margin":
        margins = margins * (1 - torch.nn.functional.one_hot(torch.tensor(case["y"]), x.shape[1]).double())
    loss = margins.sum() / n
    (dx,) = grads(loss, [x], np.float64(1.0))
    if bug == "svm-not-averaged":
        loss, dx = loss * n, dx * n
    elif bug == "svm-dx-not-averaged":
        dx = dx * n
    return {"loss": loss.detach().numpy(), "dx": dx}


def svm_case(rng):
    case = loss_case(rng)
    x, y = case["x"], case["y"]
    margins = x - x[np.arange(len(x)), y][:, None] + 1.0
    case["x"] = x + np.where(np.abs(margins) < 0.05, 0.1, 0.0)  # no margin at its kink
    return case


@register("svm_loss", ("svm_loss",), case=svm_case, reference=svm_reference, bugs=SVM_BUGS)
def svm_loss(student, case):
    loss, dx = student.call("svm_loss", case["x"].copy(), case["y"].copy(), returns=2, what="loss, dx")
    return {"loss": loss, "dx": dx}
