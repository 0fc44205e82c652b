"""The recurrent layers of CS231n assignment 3's ``rnn_layers.py``: the vanilla RNN (``rnn_step_forward/
backward``, ``rnn_forward/backward``: h_t = tanh(h_{t−1}·Wh + x_t·Wx + b)), the word embedding, the
temporal affine layer and the temporal softmax loss (summed over time under the mask, averaged over the
batch); the LSTM is ``lstm.py``."""

from __future__ import annotations

import numpy as np

from compare.layercheck.base import forward_backward, grads, register, torch_inputs

RNN_BUGS = {
    "rnn-tanh-derivative": "the backward through tanh uses (1 − h) instead of (1 − h²): d tanh(a)/da = 1 − tanh(a)²",
    "rnn-backward-no-carry": "the backward does not carry the gradient from step t+1 into step t: at each step the "
    "upstream gradient is dh[:, t] + the dprev_h of the step after it",
}
EMBEDDING_BUGS = {
    "embedding-backward-assignment": "dW[x] = dout (or +=) loses the gradient of a word that appears more than "
    "once: accumulate with np.add.at(dW, x, dout)",
}
TEMPORAL_AFFINE_BUGS = {
    "affine-backward-batch-mean": "dw and db are divided by the number of rows: the layer's gradient is the plain "
    "sum over the batch and time",
}
TEMPORAL_SOFTMAX_BUGS = {
    "temporal-softmax-mask-ignored": "the mask is ignored: steps whose mask is False (padding) must add nothing to "
    "the loss or dx",
    "temporal-softmax-mean-over-time": "the loss is divided by N·T; the course's is summed over time and averaged "
    "over the batch only (÷ N)",
}


def rnn_step_case(rng):
    n, d, h = (int(v) for v in rng.integers([2, 3, 3], [5, 6, 6]))
    return dict(
        x=rng.normal(size=(n, d)),
        prev_h=rng.normal(size=(n, h)),
        Wx=rng.normal(size=(d, h)) * 0.5,
        Wh=rng.normal(size=(h, h)) * 0.5,
        b=rng.normal(size=h),
        dnext_h=rng.normal(size=(n, h)),
    )


def rnn_step_reference(case, bug=None):
    if bug == "rnn-backward-no-carry":
        return None  # a single step carries nothing
    x, prev_h, wx, wh, b = torch_inputs(case["x"], case["prev_h"], case["Wx"], case["Wh"], case["b"])
    a = prev_h @ wh + x @ wx + b
    next_h = a.tanh()
    if bug == "rnn-tanh-derivative":
        da = case["dnext_h"] * (1 - next_h.detach().numpy())
        xn, ph = case["x"], case["prev_h"]
        got = [da @ case["Wx"].T, da @ case["Wh"].T, xn.T @ da, ph.T @ da, da.sum(axis=0)]
    else:
        got = grads(next_h, [x, prev_h, wx, wh, b], case["dnext_h"])
    names = ("dx", "dprev_h", "dWx", "dWh", "db")
    return {"next_h": next_h.detach().numpy(), **dict(zip(names, got))}


@register(
    "rnn_step",
    ("rnn_step_forward", "rnn_step_backward"),
    case=rnn_step_case,
    reference=rnn_step_reference,
    bugs={k: v for k, v in RNN_BUGS.items() if k != "rnn-backward-no-carry"},
)
def rnn_step(student, case):
    inputs = tuple(case[k] for k in ("x", "prev_h", "Wx", "Wh", "b"))
    grads = ("dx", "dprev_h", "dWx", "dWh", "db")
    return forward_backward(
        student, "rnn_step_forward", "rnn_step_backward", inputs, case["dnext_h"], grads, output="next_h"
    )


def rnn_case(rng):
    n, t, d, h = (int(v) for v in rng.integers([2, 3, 3, 3], [4, 6, 5, 5]))
    return dict(
        x=rng.normal(size=(n, t, d)),
        h0=rng.normal(size=(n, h)),
        Wx=rng.normal(size=(d, h)) * 0.5,
        Wh=rng.normal(size=(h, h)) * 0.5,
        b=rng.normal(size=h),
        dh=rng.normal(size=(n, t, h)),
    )


def rnn_reference(case, bug=None):
    import torch

    x, h0, wx, wh, b = torch_inputs(case["x"], case["h0"], case["Wx"], case["Wh"], case["b"])
    hs, prev = [], h0
    for t in range(x.shape[1]):
        prev = (prev @ wh + x[:, t] @ wx + b).tanh()
        hs.append(prev)
    h = torch.stack(hs, dim=1)
    names = ("dx", "dh0", "dWx", "dWh", "db")
    if bug == "rnn-backward-no-carry":  # each step sees only its own dh[:, t]
        got = _steps_back(case, h.detach().numpy(), lambda t, carry: case["dh"][:, t], lambda v: 1 - v**2)
    elif bug == "rnn-tanh-derivative":
        got = _steps_back(case, h.detach().numpy(), lambda t, carry: case["dh"][:, t] + carry, lambda v: 1 - v)
    else:
        got = grads(h, [x, h0, wx, wh, b], case["dh"])
    return {"h": h.detach().numpy(), **dict(zip(names, got))}


def _steps_back(case, hs, dh_of, derivative):
    """The backward through time in NumPy, with the upstream gradient and tanh's derivative given."""
    x, h0, wx, wh = case["x"], case["h0"], case["Wx"], case["Wh"]
    n, t_len, _ = x.shape
    dx, dwx, dwh, db = np.zeros_like(x), np.zeros_like(wx), np.zeros_like(wh), np.zeros(wh.shape[0])
    carry = np.zeros_like(h0)
    for t in reversed(range(t_len)):
        prev = hs[:, t - 1] if t else h0
        da = dh_of(t, carry) * derivative(hs[:, t])
        dx[:, t], dwx, dwh, db = da @ wx.T, dwx + x[:, t].T @ da, dwh + prev.T @ da, db + da.sum(axis=0)
        carry = da @ wh.T
    return [dx, carry, dwx, dwh, db]


@register("rnn", ("rnn_forward", "rnn_backward"), case=rnn_case, reference=rnn_reference, bugs=RNN_BUGS)
def rnn(student, case):
    inputs = tuple(case[k] for k in ("x", "h0", "Wx", "Wh", "b"))
    grads = ("dx", "dh0", "dWx", "dWh", "db")
    return forward_backward(student, "rnn_forward", "rnn_backward", inputs, case["dh"], grads, output="h")


def embedding_case(rng):
    v, d = int(rng.integers(4, 7)), int(rng.integers(3, 6))
    x = rng.integers(0, v, size=(3, 5))
    x[0, :2] = x[1, 0]  # a word that appears more than once
    return dict(x=x, W=rng.normal(size=(v, d)), dout=rng.normal(size=(3, 5, d)))


def embedding_reference(case, bug=None):
    import torch

    (w,) = torch_inputs(case["W"])
    out = w[torch.tensor(case["x"])]
    (dw,) = grads(out, [w], case["dout"])
    if bug == "embedding-backward-assignment":
        dw = np.zeros_like(case["W"])
        dw[case["x"]] = case["dout"]  # the last write of each repeated word wins
    return {"out": out.detach().numpy(), "dW": dw}


@register(
    "word_embedding",
    ("word_embedding_forward", "word_embedding_backward"),
    case=embedding_case,
    reference=embedding_reference,
    bugs=EMBEDDING_BUGS,
)
def word_embedding(student, case):
    args = (case["x"], case["W"])
    return forward_backward(student, "word_embedding_forward", "word_embedding_backward", args, case["dout"], ("dW",))


def temporal_affine_case(rng):
    n, t, d, m = (int(v) for v in rng.integers([2, 2, 3, 2], [4, 5, 6, 6]))
    return dict(
        x=rng.normal(size=(n, t, d)), w=rng.normal(size=(d, m)), b=rng.normal(size=m), dout=rng.normal(size=(n, t, m))
    )


def temporal_affine_reference(case, bug=None):
    x, w, b = torch_inputs(case["x"], case["w"], case["b"])
    out = x @ w + b
    dx, dw, db = grads(out, [x, w, b], case["dout"])
    if bug == "affine-backward-batch-mean":
        rows = case["x"].shape[0] * case["x"].shape[1]
        dw, db = dw / rows, db / rows
    return {"out": out.detach().numpy(), "dx": dx, "dw": dw, "db": db}


@register(
    "temporal_affine",
    ("temporal_affine_forward", "temporal_affine_backward"),
    case=temporal_affine_case,
    reference=temporal_affine_reference,
    bugs=TEMPORAL_AFFINE_BUGS,
)
def temporal_affine(student, case):
    args = (case["x"], case["w"], case["b"])
    return forward_backward(
        student, "temporal_affine_forward", "temporal_affine_backward", args, case["dout"], ("dx", "dw", "db")
    )


def temporal_softmax_case(rng):
    n, t, v = (int(k) for k in rng.integers([2, 3, 3], [5, 6, 7]))
    mask = rng.random((n, t)) < 0.7
    mask[:, 0] = True
    return dict(x=rng.normal(size=(n, t, v)), y=rng.integers(0, v, size=(n, t)), mask=mask)


def temporal_softmax_reference(case, bug=None):
    import torch

    (x,) = torch_inputs(case["x"])
    n, t, v = x.shape
    logp = torch.log_softmax(x, dim=2).reshape(n * t, v)
    picked = logp[range(n * t), case["y"].reshape(-1)]
    mask = torch.tensor(case["mask"].reshape(-1), dtype=torch.float64)
    if bug == "temporal-softmax-mask-ignored":
        mask = torch.ones_like(mask)
    loss = -(picked * mask).sum() / (n * t if bug == "temporal-softmax-mean-over-time" else n)
    (dx,) = grads(loss, [x], np.float64(1.0))
    return {"loss": loss.detach().numpy(), "dx": dx}


@register(
    "temporal_softmax_loss",
    ("temporal_softmax_loss",),
    case=temporal_softmax_case,
    reference=temporal_softmax_reference,
    bugs=TEMPORAL_SOFTMAX_BUGS,
)
def temporal_softmax_loss(student, case):
    loss, dx = student.call(
        "temporal_softmax_loss", case["x"].copy(), case["y"].copy(), case["mask"].copy(), returns=2, what="loss, dx"
    )
    return {"loss": loss, "dx": dx}
