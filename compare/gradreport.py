"""A gradient proof's result as data: one row per parameter (``ParamCheck``), the finite differences
(``FDCheck``) and the whole report (``GradReport``: its table, HTML and JSON), with the one rule that judges
a row (``param_check``).  No torch here: ``simplenet report`` reads a run's gradcheck.json back through it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from compare.diagnose import worst_elements
from compare.numerics import rel as max_rel_err
from compare.plugins.protocol import check_finite


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
    phase: str = "training"  # or "running statistics", "test mode" (specs with batchnorm, layernorm, dropout)
    note: str = ""  # why a row passes that its figures alone would not say

    @property
    def label(self) -> str:
        return self.name if self.phase == "training" else f"{self.name} ({self.phase})"


# The per-parameter verdicts of --fd (JSON ``fd[i].verdict``): the reference is the harness's own
# forward (mean softmax cross-entropy of SimpleNet at these weights), the truth both sides must match.
FD_OK, FD_TORCH_WRONG, FD_PLUGIN_LOSS = "OK", "TORCH WRONG", "PLUG-IN FORWARD/LOSS DIFFERS"
FD_BOTH, FD_UNEXPLAINED = "BOTH DIFFER FROM FD", "UNEXPLAINED"


@dataclass
class FDCheck:
    """Central differences of the *reference* loss against both sides' gradients, and of the plug-in's
    own loss against its gradient (self-consistency), at the same coordinates."""

    name: str
    checked: int
    kinks: int
    max_abs_err_manual: float  # |fd(reference) − plug-in|
    max_abs_err_torch: float  # |fd(reference) − autograd|
    passed_manual: bool
    passed_torch: bool
    max_abs_err_own: float = 0.0  # |fd(plug-in's own loss) − plug-in|
    passed_own: bool = True
    verdict: str = FD_OK


def fd_verdict(plugin_ok: bool, torch_ok: bool, own_ok: bool, forward_ok: bool, wrong: str) -> str:
    """One parameter's verdict.  ``TORCH WRONG`` only when the plug-in agrees with the reference in
    its forward, its loss and this gradient, and autograd does not."""
    if plugin_ok:
        return FD_OK if torch_ok else (FD_TORCH_WRONG if forward_ok else FD_UNEXPLAINED)
    if not torch_ok:
        return FD_BOTH
    return FD_PLUGIN_LOSS if own_ok else wrong


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
    forward: dict = field(default_factory=dict)
    fault: str | None = None
    fd: list[FDCheck] | None = None
    implementation: dict = field(default_factory=dict)
    world: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    conventions: list[str] = field(default_factory=list)  # what the spec's layer kinds mean (the header says)
    passed: bool = field(init=False)

    def __post_init__(self):
        fd_ok = self.fd is None or all(c.verdict == FD_OK for c in self.fd)
        # the verdict rests on what the judge measures itself: the logits and every gradient; the reported
        # loss is shown and diagnosed, and fails only where it is the value a learner's notebook checks and
        # a regularization term is missing from it (reg-loss-layer-missing)
        self.passed = (
            all(p.passed for p in self.params) and self.logits["passed"] and fd_ok and not self.loss.get("fails")
        )

    @property
    def ok(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        """The JSON the CLI writes with --json."""
        return asdict(self)

    def __str__(self) -> str:
        from compare.report import format_gradcheck

        return format_gradcheck(self)

    def _repr_html_(self) -> str:
        from compare.report import gradcheck_html

        return gradcheck_html(self)

    def __repr__(self) -> str:  # a notebook's plain repr and a REPL's: the table, not the dataclass's fields
        return str(self)


def param_check(
    name: str, a, b: np.ndarray, slot, tol: float, label: str, phase: str = "training", rounding: float = 0.0
) -> ParamCheck:
    """One row of the proof: the hand-written array ``a`` against the reference's ``b``.  Where both are
    zero up to ``rounding`` (a bias just before batchnorm, ``proof.CancelledBiases``), their relative error is
    that of two rounding noises and is not judged."""
    native = slot.native if slot is not None else name
    if a is not None and slot is not None:
        check_finite(label, slot, a)
    a = None if a is None else np.asarray(a)
    if a is None or a.shape != b.shape:  # a broken backward may give no or a mis-shaped gradient
        return ParamCheck(name, list(b.shape), float("inf"), float("inf"), False, native, phase=phase)
    r = max_rel_err(a, b)
    zero = bool(r > tol and rounding > 0 and a.size and np.abs(a).max() <= rounding and np.abs(b).max() <= rounding)
    return ParamCheck(
        name,
        list(b.shape),
        float(np.abs(a.astype(np.float64) - b).max()) if b.size else 0.0,
        r,
        r <= tol or zero,
        native,
        worst=[] if r <= tol or zero or slot is None else worst_elements(a, b, slot),
        phase=phase,
        note=f"both zero up to rounding (|g| ≤ {rounding:.1e})" if zero else "",
    )


def report_from_dict(d: dict) -> GradReport:
    """A ``GradReport`` back from its JSON (``to_dict``)."""
    d = {k: v for k, v in d.items() if k != "passed"}
    d["params"] = [ParamCheck(**p) for p in d.get("params", [])]
    d["fd"] = None if d.get("fd") is None else [FDCheck(**c) for c in d["fd"]]
    return GradReport(**d)
