"""torch.optim's rules as the judge applies them: torch itself (``torch_trajectory``), and the same rules
with each known bug planted (``reference``, ``VARIANTS``): on the NumPy twin's optimizer (``manual.optim``)
where the bug is a different ε or lost state, written out here only where it changes the formula."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


# --- the known bugs, re-enacted ---------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    code: str
    rules: tuple[str, ...]
    message: str
    equivalent: bool = False  # a correct form that differs from torch's only in rounding or eps
    values: tuple = ()  # a bug with a value (the ε really used, where t is fixed): each tried, the one found said

    def plantings(self) -> list[tuple[str, object]]:
        """(what ``reference`` is given, the value) for each way this bug can be planted."""
        return [(f"{self.code}={v!r}", v) for v in self.values] or [(self.code, None)]


VARIANTS = [
    Variant(
        "cs231n-momentum-form",
        ("sgd",),
        "v = μv − lr·dw, w += v: CS231n's momentum form, equal to torch's "
        "b = μb + g, w −= lr·b under a constant learning rate",
        equivalent=True,
    ),
    Variant(
        "adam-efficient-form",
        ("adam",),
        'Adam\'s "efficient" form (Kingma & Ba, sec. 2): lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ), '
        "w −= lr_t·m/(√v + ε) - it differs from torch.optim.Adam only in where ε enters (ε·√(1−β₂ᵗ) in "
        "torch's terms); a variant, not a bug",
        equivalent=True,
    ),
    Variant(
        "adam-no-bias-correction",
        ("adam",),
        "no bias correction: m and v are used as they are, not divided by (1 − β₁ᵗ) and (1 − β₂ᵗ)",
    ),
    Variant(
        "adam-step-count-late",
        ("adam",),
        "the bias correction is one step late: t is incremented before "
        "use from a default of 1 (t = 2 at the first step), where torch uses t = 1",
    ),
    Variant(
        "adam-step-count-fixed",
        ("adam",),
        "the step count never changes: the bias correction is that of step {value} at every step",
        values=(1, 2, 3, 5, 10, 100, 1000),
    ),
    Variant(
        "adam-bias-correction-wrong",
        ("adam",),
        "the bias correction divides by 1 − (1 − β)ᵗ where torch divides by 1 − βᵗ (β₁ for m, β₂ for v)",
    ),
    Variant(
        "eps-ignored",
        ("adam", "rmsprop", "adagrad"),
        "the ε given in the config is not the one used: your update uses ε = {value}",
        values=(1e-7, 1e-8, 1e-6, 1e-10, 1e-5, 1e-4, 0.0),
    ),
    Variant(
        "eps-inside-sqrt",
        ("adam", "rmsprop"),
        "ε is added inside the square root (√(v + ε)), where torch adds it outside (√v + ε)",
    ),
    Variant(
        "state-not-stored",
        ("sgd", "rmsprop", "adam"),
        "the state (velocity, cache or moments) is never written back: each step starts from zeros again",
    ),
    Variant(
        "nesterov-instead-of-classic",
        ("sgd",),
        "Nesterov momentum where classic momentum belongs (w += −μ·v_prev + (1 + μ)·v)",
    ),
    Variant("momentum-lr-twice", ("sgd",), "the learning rate is applied twice: v = μv + lr·dw, then w −= lr·v"),
]


def torch_kwargs(rule: str, hyper: dict) -> dict:
    """The hyper-parameters (besides the learning rate) both twins' ``rule`` is built with, from the judge's
    names: the same for torch.optim and for the NumPy twin, so the two can never be told different things."""
    return {
        "sgd": lambda: dict(momentum=hyper.get("momentum", 0.0)),
        "rmsprop": lambda: dict(alpha=hyper.get("alpha", 0.99), eps=hyper["eps"]),
        "adagrad": lambda: dict(eps=hyper["eps"]),
        "adam": lambda: dict(betas=(hyper["beta1"], hyper["beta2"]), eps=hyper["eps"]),
    }[rule]()


# the variants that change a rule's formula, each written out below with the bug in place; the others are
# torch's own rule (the NumPy twin's, manual/optim.py) told a different ε or kept from its state
FORMULAS = {
    "sgd": ("nesterov-instead-of-classic", "momentum-lr-twice", "cs231n-momentum-form"),
    "rmsprop": ("eps-inside-sqrt",),
    "adam": ("adam-no-bias-correction", "adam-bias-correction-wrong", "adam-efficient-form", "eps-inside-sqrt"),
}


def reference(rule: str, hyper: dict, params: dict, grads_seq: list[dict], variant: str = "", lr_at=None) -> list[dict]:
    """torch's ``rule`` (or a variant of it, or several joined by "+") applied to copies of ``params`` over
    ``grads_seq``; the parameters after every step.  ``lr_at(t)`` gives a per-step learning rate (the nnfs
    decay).  torch's own rule is the NumPy twin's (``manual.optim``); only a bug that changes the formula is
    written out here."""
    planted = dict(part.partition("=")[::2] for part in variant.split("+") if part)  # code → its value, or ""
    if planted.get("eps-ignored"):  # a bug with a value: the ε really used
        hyper = {**hyper, "eps": float(planted["eps-ignored"])}
    fixed = int(float(planted.get("adam-step-count-fixed") or 1))  # where the step count is fixed
    if any(code in FORMULAS.get(rule, ()) for code in planted):
        return _rewritten(rule, hyper, params, grads_seq, planted, fixed, lr_at)
    return _on_the_twin(rule, hyper, params, grads_seq, planted, fixed, lr_at)


def _on_the_twin(rule, hyper, params, grads_seq, planted, fixed, lr_at) -> list[dict]:
    """The NumPy twin's optimizer over the stream, its state dropped before every step where the state is
    never stored, and Adam's step count held where the bug holds it."""
    from manual.layers import Parameter
    from manual.optim import make_optimizer

    ps = {k: Parameter(np.array(v, dtype=np.float64)) for k, v in params.items()}
    opt = make_optimizer(rule, list(ps.values()), lr=hyper["lr"], **torch_kwargs(rule, hyper))
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        if "state-not-stored" in planted:
            opt.state.clear()
        if rule == "adam":
            if "adam-step-count-late" in planted:  # t starts at 2 (incremented before use from 1)
                _adam_step_count(opt, 1, always=False)
            elif "adam-step-count-fixed" in planted:  # t is the fixed value at every step
                _adam_step_count(opt, fixed - 1, always=True)
        if lr_at is not None:
            opt.param_groups[0]["lr"] = lr_at(t)
        for k, p in ps.items():
            p.grad = np.asarray(grads[k], dtype=np.float64) if k in grads else None
        opt.step()
        out.append({k: p.data.copy() for k, p in ps.items()})
    return out


def _adam_step_count(opt, before: int, always: bool) -> None:
    """Adam's step count set to ``before`` ahead of a step (the step adds one): on every parameter, or only
    on those whose state is new."""
    for i, p in enumerate(opt.param_groups[0]["params"]):
        state = opt.state.setdefault(i, {})
        if not state:
            state.update(step=before, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
        elif always:
            state["step"] = before


def _rewritten(rule, hyper, params, grads_seq, planted, fixed, lr_at) -> list[dict]:
    """A rule whose formula a planted bug changes, written out with the bug in place."""
    w = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    state = {k: {} for k in w}
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        lr = lr_at(t) if lr_at else hyper["lr"]
        for k, g in grads.items():
            g = np.asarray(g, dtype=np.float64)
            s = state[k] if "state-not-stored" not in planted else {}
            if rule == "sgd":
                mu = hyper.get("momentum", 0.0)
                if not mu:  # no momentum: the formula bugs are in the momentum
                    w[k] -= lr * g
                elif "nesterov-instead-of-classic" in planted:
                    prev = s.get("v", np.zeros_like(g))
                    v = mu * prev - lr * g
                    w[k] += -mu * prev + (1 + mu) * v
                    s["v"] = v
                elif "momentum-lr-twice" in planted:
                    b = s.get("b")
                    b = lr * g if b is None else mu * b + lr * g
                    w[k] -= lr * b
                    s["b"] = b
                else:  # cs231n-momentum-form
                    v = mu * s.get("v", np.zeros_like(g)) - lr * g
                    w[k] += v
                    s["v"] = v
            elif rule == "rmsprop":  # eps-inside-sqrt
                alpha = hyper.get("alpha", 0.99)
                cache = alpha * s.get("cache", np.zeros_like(g)) + (1 - alpha) * g * g
                w[k] -= lr * g / np.sqrt(cache + hyper["eps"])
                s["cache"] = cache
            else:  # adam
                b1, b2, eps = hyper["beta1"], hyper["beta2"], hyper["eps"]
                step = s.get("t", 0) + 1
                used = (
                    step + 1
                    if "adam-step-count-late" in planted
                    else fixed
                    if "adam-step-count-fixed" in planted
                    else step
                )
                m = b1 * s.get("m", np.zeros_like(g)) + (1 - b1) * g
                v = b2 * s.get("v", np.zeros_like(g)) + (1 - b2) * g * g
                if "adam-no-bias-correction" in planted:
                    w[k] -= lr * m / (np.sqrt(v) + eps)
                elif "adam-bias-correction-wrong" in planted:
                    w[k] -= lr * (m / (1 - (1 - b1) ** used)) / (np.sqrt(v / (1 - (1 - b2) ** used)) + eps)
                elif "adam-efficient-form" in planted:
                    w[k] -= lr * math.sqrt(1 - b2**used) / (1 - b1**used) * m / (np.sqrt(v) + eps)
                else:  # eps-inside-sqrt
                    w[k] -= lr * (m / (1 - b1**used)) / np.sqrt(v / (1 - b2**used) + eps)
                s.update(m=m, v=v, t=step)
        out.append({k: v.copy() for k, v in w.items()})
    return out


def torch_trajectory(rule: str, hyper: dict, params: dict, grads_seq: list[dict], lr_at=None):
    """torch.optim itself over the same stream: parameters and state after every step."""
    import torch

    from torch_impl.optim import OPTIMIZERS

    tensors = {k: torch.tensor(np.array(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}
    # the autograd twin's class, on torch's single-tensor loop (the reference kernel, on any device)
    opt = OPTIMIZERS[rule].cls(list(tensors.values()), lr=hyper["lr"], foreach=False, **torch_kwargs(rule, hyper))
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        if lr_at is not None:
            opt.param_groups[0]["lr"] = lr_at(t)
        for k, q in tensors.items():
            q.grad = torch.tensor(np.array(grads[k], dtype=np.float64))
        opt.step()
        state = {}
        for k, q in tensors.items():
            s = opt.state[q]
            state[k] = {n: (float(v) if v.ndim == 0 else v.detach().numpy().copy()) for n, v in s.items()}
        out.append(({k: q.detach().numpy().copy() for k, q in tensors.items()}, state))
    return out
