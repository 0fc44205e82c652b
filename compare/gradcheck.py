"""The gradient proof: one batch, one set of weights, a hand-written implementation and autograd,
every parameter compared, and every one that fails diagnosed (``compare.diagnose``).

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
from compare import distributed, plugins
from compare.config import ModelSpec
from compare.diagnose import diagnose, worst_elements
from compare.distributed import SINGLE, World
from compare.errors import ConfigError
from compare.faults import inject
from compare.plugins import Implementation, check_finite
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
    native: str = ""
    diagnosis: dict | None = None
    worst: list[dict] = field(default_factory=list)


@dataclass
class FDCheck:
    """Finite differences of the implementation's loss against both sides' gradients at the same coordinates."""

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
    implementation: dict = field(default_factory=dict)
    world: dict = field(default_factory=dict)
    passed: bool = field(init=False)

    def __post_init__(self):
        fd_ok = self.fd is None or all(c.passed_manual and c.passed_torch for c in self.fd)
        self.passed = (all(p.passed for p in self.params) and self.loss["passed"]
                       and self.logits["passed"] and fd_ok)

    def to_dict(self) -> dict:
        return asdict(self)


def torch_forward_backward(net: torch.nn.Module, x, y, world: World = SINGLE) -> tuple[float, np.ndarray]:
    """Autograd's loss, logits and (in ``net``'s parameters) gradients of the batch.  Under DDP each
    rank differentiates its shard's weighted loss and DistributedDataParallel averages the gradients,
    which must then be the whole batch's (``compare.distributed``)."""
    net.zero_grad()
    if world.size == 1:
        logits = net(torch.as_tensor(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y))
        loss.backward()
        return float(loss.detach()), logits.detach().numpy()
    a, b = distributed.shard(0, len(x), world)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    logits = ddp(torch.as_tensor(x[a:b]))
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y[a:b])) if b > a else logits.sum()
    (loss * distributed.shard_weight(b - a, len(x), world) if b > a else loss * 0.0).backward()
    total = loss.detach() * ((b - a) / len(x)) if b > a else torch.zeros((), dtype=logits.dtype)
    torch.distributed.all_reduce(total)
    with torch.no_grad():
        full = net(torch.as_tensor(x)).numpy()
    return float(total), full


def build_implementation(target, spec: ModelSpec, state: dict, dtype: str, convention: str | None,
                         fault: str | None) -> Implementation:
    impl = plugins.load(target, spec, dtype, convention=convention, state=state)
    if fault:
        if impl.convention != "ours":
            raise ConfigError(f"--inject-fault breaks layers of the ours convention; {impl.label} is "
                              f"{impl.convention} - plant the bug in its code instead")
        inject(impl.model, impl.criterion, fault)
    return impl


def gradient_proof(x: np.ndarray, y: np.ndarray, *, spec: ModelSpec = ModelSpec(), seed: int = 0,
                   dtype: str = "float64", source: str = "given batch", fault: str | None = None,
                   fd: bool = False, fd_samples: int | None = 16, manual_target=plugins.DEFAULT_TARGET,
                   convention: str | None = None, world: World = SINGLE) -> GradReport:
    """Load ONE set of initial weights into the hand-written implementation ``manual_target`` (our twin
    by default; any plug-in, or a factory callable) and into autograd, run forward + backward on
    (x, y), compare every parameter and diagnose each that fails."""
    tol = TOLERANCE[dtype]
    state = initial_state(spec, seed)
    impl = build_implementation(manual_target, spec, state, dtype, convention, fault)
    t_net = build_torch(spec, state, dtype)
    x = np.asarray(x, dtype=np.dtype(dtype))
    m_loss, m_logits, m_grads = impl.raw_gradients(x, y)
    m_grads = {k: None if g is None else np.array(g, copy=True) for k, g in m_grads.items()}
    if m_logits is None:
        m_logits = impl.forward(x)
    t_loss, t_logits = torch_forward_backward(t_net, x, y, world)

    t_grads = {name: p.grad.numpy() for name, p in t_net.named_parameters()}
    slots = {s.name: s for s in impl.slots}
    params = []
    for name, b in t_grads.items():
        a, slot = m_grads[name], slots[name]
        if a is not None:
            check_finite(impl.label, slot, a)
        if a is None or a.shape != b.shape:   # a broken backward may give no or a mis-shaped gradient
            params.append(ParamCheck(name, list(b.shape), float("inf"), float("inf"), False, slot.native))
            continue
        r = max_rel_err(a, b)
        params.append(ParamCheck(name, list(b.shape), float(np.abs(a - b).max()), r, r <= tol, slot.native,
                                 worst=[] if r <= tol else worst_elements(a, b, slot)))
    diagnose(params, m_grads, t_grads, n=len(x), tol=tol, slots=slots, native_shapes=impl.native_grad_shapes)
    loss_rel = abs(m_loss - t_loss) / max(abs(m_loss), abs(t_loss), TINY)
    logits_rel = max_rel_err(m_logits, t_logits)
    report = GradReport(
        dtype=dtype, tolerance=tol, batch_size=len(x), source=source, spec=spec.describe(), params=params,
        loss=dict(manual=m_loss, torch=t_loss, abs_diff=abs(m_loss - t_loss), rel_err=loss_rel, passed=loss_rel <= tol),
        logits=dict(max_abs_diff=float(np.abs(m_logits - t_logits).max()), max_rel_err=logits_rel,
                    passed=logits_rel <= tol),
        fault=fault,
        fd=finite_differences(spec, state, x, y, t_grads, samples=fd_samples, seed=seed, fault=fault,
                              manual_target=manual_target, convention=convention) if fd else None,
        world=world.describe(),
        implementation=dict(label=impl.label, target=impl.target, convention=impl.convention,
                            mapping=impl.mapping(), header=impl.header(), mapping_lines=impl.mapping_lines()),
    )
    return report


def finite_differences(spec: ModelSpec, state: dict, x: np.ndarray, y: np.ndarray,
                       torch_grads: dict[str, np.ndarray], *, samples: int | None = 16, seed: int = 0,
                       fault: str | None = None, manual_target=plugins.DEFAULT_TARGET,
                       convention: str | None = None) -> list[FDCheck]:
    """Central differences of the implementation's own loss in float64, at ``samples`` random
    coordinates per parameter (every coordinate when ``samples`` is None), against its analytic
    gradient and autograd's.

    A coordinate whose ±H step flips any ReLU unit (a pre-activation within reach of the kink at 0,
    watched on a reference forward of our twin with the same weights) has no derivative to compare;
    it is counted under ``kinks`` and not judged.
    """
    impl = build_implementation(manual_target, spec, state, "float64", convention, fault)
    ref = build_manual(spec, state, "float64")
    ref_params = dict(ref.named_parameters())
    x = np.asarray(x, dtype=np.float64)
    _, _, analytic = impl.raw_gradients(x, y)
    analytic = {k: None if g is None else np.array(g, copy=True) for k, g in analytic.items()}
    relus = [a for a in ref.acts if isinstance(a, manual.ReLU)]

    def masks():
        ref(x)
        return [a.mask.copy() for a in relus]

    base_masks = masks()
    rng = np.random.default_rng(seed)
    checks = []
    for name, p in impl.params.items():
        data, mirror = p.data, ref_params[name].data       # views: writing them moves the implementation
        coords = np.arange(data.size) if samples is None else rng.choice(data.size, min(samples, data.size), replace=False)
        errors = {"manual": [0.0], "torch": [0.0]}
        passed = {"manual": True, "torch": True}
        kinks = 0
        for c in coords:
            idx = np.unravel_index(int(c), data.shape)
            v = data[idx]
            data[idx] = mirror[idx] = v + H
            up, masks_up = impl.raw_gradients(x, y)[0], masks()
            data[idx] = mirror[idx] = v - H
            down, masks_down = impl.raw_gradients(x, y)[0], masks()
            data[idx] = mirror[idx] = v
            if any((m0 != m1).any() or (m0 != m2).any() for m0, m1, m2 in zip(base_masks, masks_up, masks_down)):
                kinks += 1
                continue
            fd = (up - down) / (2 * H)
            for side, grads in (("manual", analytic), ("torch", torch_grads)):
                an = value_at(grads[name], int(c), data.shape)
                err = abs(fd - an) if np.isfinite(an) else float("inf")
                errors[side].append(err)
                passed[side] &= err <= FD_ATOL + FD_RTOL * abs(an)
        checks.append(FDCheck(name, len(coords), kinks, max(errors["manual"]), max(errors["torch"]),
                              bool(passed["manual"]), bool(passed["torch"])))
    return checks


def value_at(grad: np.ndarray | None, c: int, shape: tuple[int, ...]) -> float:
    """Entry ``c`` (row-major) of a gradient; NaN when a broken backward gave none or a mis-shaped one."""
    if grad is None or grad.shape != tuple(shape):
        return float("nan")
    return float(grad[np.unravel_index(c, shape)])
