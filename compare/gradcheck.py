"""The gradient proof: one batch, one set of weights, both twins, every parameter compared.

Relative error is measured against the tensor's scale,

    rel(a, b) = max_i |a_i − b_i| / max(max_i |a_i|, max_i |b_i|, 1e-300),

which never divides by zero and does not blow up on entries that are zero in both twins
(dead ReLU units) or that cancel to rounding noise.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

import manual
from compare.config import ModelSpec
from compare.faults import inject
from compare.twins import build_manual, build_torch, initial_state

# Per-dtype tolerance on rel(manual, autograd); README "Tolerances" explains each figure.
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
# Finite differences (float64, central, step H): |fd − analytic| ≤ FD_ATOL + FD_RTOL·|analytic|.
H, FD_ATOL, FD_RTOL = 1e-5, 1e-8, 1e-6
TINY = 1e-300


def max_rel_err(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), TINY)
    return float(np.abs(a - b).max(initial=0.0)) / scale


@dataclass
class ParamCheck:
    name: str
    shape: list[int]
    max_abs_diff: float
    max_rel_err: float
    passed: bool


@dataclass
class FDCheck:
    """Finite differences against both twins' gradients at the same coordinates."""

    name: str
    checked: int
    kinks: int
    max_abs_err_manual: float
    max_abs_err_torch: float
    passed_manual: bool
    passed_torch: bool


@dataclass
class GradReport:
    dtype: str
    tolerance: float
    batch_size: int
    source: str
    spec: str
    params: list[ParamCheck]
    loss: dict
    logits: dict
    fault: str | None = None
    fd: list[FDCheck] | None = None
    passed: bool = field(init=False)

    def __post_init__(self):
        fd_ok = self.fd is None or all(c.passed_manual and c.passed_torch for c in self.fd)
        self.passed = (all(p.passed for p in self.params) and self.loss["passed"]
                       and self.logits["passed"] and fd_ok)

    def to_dict(self) -> dict:
        return asdict(self)


def manual_forward_backward(net: manual.SimpleNet, loss_fn, x, y) -> tuple[float, np.ndarray]:
    net.zero_grad()
    logits = net(x)
    loss = loss_fn(logits, y)
    net.backward(loss_fn.backward())
    return float(loss), logits


def torch_forward_backward(net: torch.nn.Module, x, y) -> tuple[float, np.ndarray]:
    net.zero_grad()
    logits = net(torch.as_tensor(x))
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y))
    loss.backward()
    return float(loss.detach()), logits.detach().numpy()


def gradient_proof(x: np.ndarray, y: np.ndarray, *, spec: ModelSpec = ModelSpec(), seed: int = 0,
                   dtype: str = "float64", source: str = "given batch", fault: str | None = None,
                   fd: bool = False, fd_samples: int | None = 16) -> GradReport:
    """Load ONE set of initial weights into both twins, run forward + backward on (x, y), compare."""
    tol = TOLERANCE[dtype]
    state = initial_state(spec, seed)
    m_net, loss_fn = build_manual(spec, state, dtype), manual.CrossEntropyLoss()
    if fault:
        inject(m_net, loss_fn, fault)
    t_net = build_torch(spec, state, dtype)
    x = np.asarray(x, dtype=np.dtype(dtype))
    m_loss, m_logits = manual_forward_backward(m_net, loss_fn, x, y)
    t_loss, t_logits = torch_forward_backward(t_net, x, y)

    t_grads = {name: p.grad.numpy() for name, p in t_net.named_parameters()}
    params = []
    for name, p in m_net.named_parameters():
        a, b = p.grad, t_grads[name]
        if a is None or a.shape != b.shape:   # a broken backward may give no or a mis-shaped gradient
            params.append(ParamCheck(name, list(b.shape), float("inf"), float("inf"), False))
            continue
        rel = max_rel_err(a, b)
        params.append(ParamCheck(name, list(b.shape), float(np.abs(a - b).max()), rel, rel <= tol))
    loss_rel = abs(m_loss - t_loss) / max(abs(m_loss), abs(t_loss), TINY)
    logits_rel = max_rel_err(m_logits, t_logits)
    report = GradReport(
        dtype=dtype, tolerance=tol, batch_size=len(x), source=source, spec=spec.describe(), params=params,
        loss=dict(manual=m_loss, torch=t_loss, abs_diff=abs(m_loss - t_loss), rel_err=loss_rel, passed=loss_rel <= tol),
        logits=dict(max_abs_diff=float(np.abs(m_logits - t_logits).max()), max_rel_err=logits_rel,
                    passed=logits_rel <= tol),
        fault=fault,
        fd=finite_differences(spec, state, x, y, t_grads, samples=fd_samples, seed=seed, fault=fault) if fd else None,
    )
    return report


def finite_differences(spec: ModelSpec, state: dict, x: np.ndarray, y: np.ndarray,
                       torch_grads: dict[str, np.ndarray], *, samples: int | None = 16, seed: int = 0,
                       fault: str | None = None) -> list[FDCheck]:
    """Central differences of the manual twin's loss in float64, at ``samples`` random coordinates
    per parameter (every coordinate when ``samples`` is None).

    A coordinate whose ±H step flips any ReLU unit (a pre-activation within reach of the kink at 0)
    has no derivative to compare; it is counted under ``kinks`` and not judged.
    """
    net, loss_fn = build_manual(spec, state, "float64"), manual.CrossEntropyLoss()
    if fault:
        inject(net, loss_fn, fault)
    x = np.asarray(x, dtype=np.float64)
    manual_forward_backward(net, loss_fn, x, y)
    analytic = {name: p.grad for name, p in net.named_parameters()}
    relus = [a for a in net.acts if isinstance(a, manual.ReLU)]
    base_masks = [a.mask.copy() for a in relus]
    rng = np.random.default_rng(seed)

    def loss_and_masks():
        loss = float(loss_fn(net(x), y))
        return loss, [a.mask for a in relus]

    checks = []
    for name, p in net.named_parameters():
        flat = p.data.reshape(-1)
        coords = np.arange(flat.size) if samples is None else rng.choice(flat.size, min(samples, flat.size), replace=False)
        errors = {"manual": [0.0], "torch": [0.0]}
        passed = {"manual": True, "torch": True}
        kinks = 0
        for c in coords:
            v = flat[c]
            flat[c] = v + H
            up, masks_up = loss_and_masks()
            flat[c] = v - H
            down, masks_down = loss_and_masks()
            flat[c] = v
            if any((m0 != m1).any() or (m0 != m2).any() for m0, m1, m2 in zip(base_masks, masks_up, masks_down)):
                kinks += 1
                continue
            fd = (up - down) / (2 * H)
            for side, grads in (("manual", analytic), ("torch", torch_grads)):
                an = value_at(grads[name], c, flat.size)
                err = abs(fd - an) if np.isfinite(an) else float("inf")
                errors[side].append(err)
                passed[side] &= err <= FD_ATOL + FD_RTOL * abs(an)
        checks.append(FDCheck(name, len(coords), kinks, max(errors["manual"]), max(errors["torch"]),
                              bool(passed["manual"]), bool(passed["torch"])))
    return checks


def value_at(grad: np.ndarray | None, c: int, size: int) -> float:
    """Entry ``c`` of a flattened gradient; NaN when a broken backward gave none or a mis-shaped one."""
    if grad is None or grad.size != size:
        return float("nan")
    return float(grad.reshape(-1)[c])
