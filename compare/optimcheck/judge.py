"""The judge: the plug-in's trajectory against torch.optim's, step by step, and where they part the bug
re-enacted; the report."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np

from compare.errors import ConfigError
from compare.numerics import rel
from compare.optimcheck.rules import VARIANTS, reference, torch_trajectory
from compare.optimcheck.styles import SHAPES, NNFSOptimizer, load
from compare.verdicts import OPTIMCHECK as TOLERANCE


@dataclass
class OptimReport:
    plugin: str
    style: str
    rule: str
    steps: int
    dtype: str
    tolerance: float
    mapping: list[str]
    worst: dict
    first_divergence: dict | None
    state: dict
    diagnosis: dict | None
    verdict: str = field(default="AGREE")
    note: str | None = None  # a float32 difference settled as rounding by a float64 run (``settle_float32``)

    @property
    def passed(self) -> bool:
        return self.verdict in ("AGREE", "VARIANT")

    ok = passed

    def __str__(self) -> str:
        return format_report(self)

    def __repr__(self) -> str:  # a notebook's plain repr and a REPL's: the report, not the dataclass's fields
        return str(self)

    def _repr_html_(self) -> str:  # Jupyter: every line the text has (mapping, worst, state, diagnosis, note)
        import html

        return f"<pre>{html.escape(str(self))}</pre>"

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check(
    target: str,
    *,
    steps: int = 50,
    dtype: str = "float64",
    seed: int = 0,
    overrides: dict | None = None,
    shapes: dict = SHAPES,
) -> OptimReport:
    """Apply the plug-in's optimizer and torch.optim's to the same parameters and gradients for ``steps``
    steps; compare parameters and state after each; diagnose where they part."""
    if steps < 1:
        raise ConfigError(f"--steps {steps} must be at least 1")
    report = judged(load(target, overrides or {}), target, steps, dtype, seed, shapes)
    if dtype == "float32" and not report.passed:
        settle_float32(
            report, lambda: judged(load(target, overrides or {}), target, steps, "float64", seed, shapes, "float32")
        )
    return report


# the largest float32 difference from torch.optim that a float64 run on the same values may settle as rounding
ROUNDING_REACH = 1e-4


def settle_float32(report: OptimReport, in_float64) -> None:
    """A float32 run that parts from torch.optim (a float64 trajectory) by no more than float32 rounding can
    reach over its steps - the nnfs book's own Adagrad, lr 1, drifts 1.25e-6 from it by step 11 - is run
    again in float64 on exactly the same values (``in_float64``): where that agrees to float64's tolerance,
    the float32 differences are rounding, said in a note; where it does not, the float32 verdict stands."""
    if report.worst["rel_err"] > ROUNDING_REACH or (report.diagnosis or {}).get("code") == "non-finite":
        return
    again = in_float64()
    if again.verdict != "AGREE":
        return
    w = report.worst
    report.note = (
        f"float32 rounding: {w['rel_err']:.2e} from torch.optim at step {w['step']} ({w['parameter']}), past "
        f"{report.tolerance:.0e}; the same parameters and gradients in float64 agree to {again.worst['rel_err']:.1e} "
        f"(tolerance {again.tolerance:.0e}), so the float32 differences are rounding, not your rule"
    )
    report.verdict, report.diagnosis, report.first_divergence = "AGREE", None, None


def judged(opt, target: str, steps: int, dtype: str, seed: int, shapes: dict, values: str = "") -> OptimReport:
    """One run of ``check``: ``values`` is the dtype the random parameters and gradients are rounded to
    before they are given in ``dtype`` (a float64 run on a float32 run's own values)."""
    tol = TOLERANCE[dtype]
    rng = np.random.default_rng(seed)
    drawn = lambda s: rng.standard_normal(s).astype(values or dtype).astype(dtype, copy=False)  # noqa: E731
    init = {k: drawn(s) for k, s in shapes.items()}
    grads_seq = [{k: drawn(s) for k, s in shapes.items()} for _ in range(steps)]
    lr_at = opt.lr_at if isinstance(opt, NNFSOptimizer) and opt.decay else None
    theirs = {k: v.copy() for k, v in init.items()}
    trajectory = []
    for grads in grads_seq:
        opt.step(theirs, {k: g.copy() for k, g in grads.items()})
        # the state as it is after this step: copies (the nnfs book's Adagrad adds to its cache in place)
        trajectory.append(({k: v.copy() for k, v in theirs.items()}, copy.deepcopy(opt.state())))
    truth = torch_trajectory(opt.rule, opt.hyper, init, grads_seq, lr_at)
    worst = {"rel_err": 0.0, "step": 0, "parameter": None}
    first = None
    state_err: dict[str, float] = {}
    for t, ((mine, my_state), (ref, ref_state)) in enumerate(zip(trajectory, truth), start=1):
        for k in shapes:
            e = rel(mine[k], ref[k])
            if e > worst["rel_err"]:
                worst = {"rel_err": e, "step": t, "parameter": k}
            if first is None and e > tol:
                first = {
                    "step": t,
                    "parameter": k,
                    "rel_err": e,
                    "state": diverged_state(my_state.get(k, {}), ref_state.get(k, {}), opt, tol),
                }
        for k, pieces in my_state.items():
            for name, value in pieces.items():
                e = state_error(name, value, ref_state.get(k, {}), opt)
                if e is not None:
                    state_err[name] = max(state_err.get(name, 0.0), e)
    report = OptimReport(
        plugin=target,
        style=opt.style,
        rule=opt.rule,
        steps=steps,
        dtype=dtype,
        tolerance=tol,
        mapping=opt.mapping(),
        worst=worst,
        first_divergence=first,
        state=state_err,
        diagnosis=None,
    )
    if first is None:
        return report
    bad = non_finite(trajectory[first["step"] - 1][0], truth[first["step"] - 1][0], first)
    if bad is not None:
        report.diagnosis, report.verdict = bad, "MISMATCH"
        return report
    mine_seq = [m for m, _ in trajectory]

    def reproduces(planted: str) -> bool:
        re = reference(opt.rule, opt.hyper, init, grads_seq, planted, lr_at)
        return all(
            rel(m[k], r[k]) <= max(tol, 1e-10 if dtype == "float64" else tol)
            for m, r in zip(mine_seq, re)
            for k in shapes
        )

    plantings = [
        (variant, planted, value)
        for variant in VARIANTS
        if opt.rule in variant.rules
        for planted, value in variant.plantings()
        if not (variant.code == "eps-ignored" and value == opt.hyper.get("eps"))  # the config's ε: not this bug
    ]
    for variant, planted, value in plantings:
        if reproduces(planted):
            report.diagnosis = named(variant, value)
            if variant.code == "eps-ignored":  # the mapping says what is really used
                report.mapping = [m + f" (your update uses ε = {value:g})" if "eps" in m else m for m in report.mapping]
            report.verdict = "VARIANT" if variant.equivalent else "MISMATCH"
            return report
    for n, (a, planted_a, value_a) in enumerate(plantings):  # two at once: only both together reproduce it
        for b, planted_b, value_b in plantings[n + 1 :]:
            if a.code != b.code and reproduces(f"{planted_a}+{planted_b}"):
                parts = [named(a, value_a), named(b, value_b)]
                said = "; and ".join(f"[{p['code']}] {p['message']}" for p in parts)
                equivalent = a.equivalent and b.equivalent
                report.diagnosis = {
                    "code": "two-bugs" if not equivalent else "two-variants",
                    "bugs": parts,
                    "message": f"two at once, only both together reproduce your trajectory: {said}",
                    "equivalent": equivalent,
                }
                report.verdict = "VARIANT" if equivalent else "MISMATCH"
                return report
    report.diagnosis = {
        "code": "unexplained",
        "message": "no known optimizer bug reproduces your trajectory; "
        "compare your update line by line with torch.optim's (docs/plugins.md, Check your optimizer)",
    }
    report.verdict = "MISMATCH"
    return report


def named(variant, value) -> dict:
    """A re-enacted variant as a diagnosis: its code, its message with the value it was found at."""
    message = variant.message.replace("{value}", f"{value:g}" if value is not None else "")
    out = {"code": variant.code, "message": message, "equivalent": variant.equivalent}
    if value is not None:
        out["value"] = value
    return out


def non_finite(mine: dict, ref: dict, first: dict) -> dict | None:
    """The diagnosis when the first divergence is a NaN or inf (in the plug-in's parameters or torch's)."""
    k, t = first["parameter"], first["step"]
    for side, values in (("your update rule", mine[k]), ("torch.optim", ref[k])):
        a = np.asarray(values, dtype=np.float64)
        if a.shape == np.shape(ref[k]) and not np.isfinite(a).all():
            kind = "NaN" if np.isnan(a).any() else "inf"
            where = [int(i) for i in np.unravel_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)]
            return {
                "code": "non-finite",
                "message": f"{side} wrote {kind} into {k}{where} at step {t}"
                + (
                    "; torch's stays finite"
                    if side == "your update rule"
                    else "; the inputs are too large for this rule"
                )
                + " - a NaN or inf is never within tolerance",
                "equivalent": False,
            }
    return None


def expected_forms(name: str, ref: dict, opt) -> list:
    """torch's value of the plug-in's state ``name`` (torch's name), in each form the plug-in may keep it:
    a velocity v = μv − lr·g (CS231n, the book) is −lr·b of torch's b = μb + g at a constant learning rate."""
    if name not in ref:
        return []
    value = ref[name]
    if name == "momentum_buffer":
        return [-opt.hyper["lr"] * value, value]
    return [value]


def state_error(name: str, value, ref: dict, opt) -> float | None:
    forms = expected_forms(name, ref, opt)
    return min(rel(value, f) for f in forms) if forms else None


def diverged_state(mine: dict, ref: dict, opt, tol: float) -> str | None:
    for name, value in mine.items():
        e = state_error(name, value, ref, opt)
        if e is not None and e > max(tol, 1e-10):
            return f"{name} ({_plain(value)} where torch has {_plain(expected_forms(name, ref, opt)[0])})"
    return None


def _plain(v) -> str:
    a = np.asarray(v, dtype=np.float64)
    return f"{float(a):g}" if a.ndim == 0 else f"max |·| {np.abs(a).max():.3g}"


def format_report(r: OptimReport) -> str:
    torch_cls = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam"}[r.rule]
    lines = [
        f"plug-in optimizer: {r.plugin} ({r.style}) ↔ torch.optim.{torch_cls}",
        *[f"  {m}" for m in r.mapping],
        f"optimcheck: {r.steps} steps, {r.dtype}, {len(SHAPES)} parameters, random N(0,1) parameters and "
        f"gradients, tolerance {r.tolerance:.0e}",
    ]
    w = r.worst
    lines.append(
        "parameters: identical to torch's at every step"
        if not w["rel_err"]
        else f"parameters: worst relative error {w['rel_err']:.2e} (step {w['step']}, {w['parameter']})"
    )
    for name, e in sorted(r.state.items()):
        lines.append(f"state {name}: worst relative error {e:.2e}")
    if r.first_divergence:
        f = r.first_divergence
        lines.append(
            f"first divergence: step {f['step']}, {f['parameter']} (relative error {f['rel_err']:.2e})"
            + (f"; the state that diverged: {f['state']}" if f["state"] else "")
        )
    if r.diagnosis:
        lines.append(f"diagnosis [{r.diagnosis['code']}]: {r.diagnosis['message']}")
    if r.note:
        lines.append(f"note: {r.note}")
    lines.append("")
    lines.append(
        {
            "AGREE": f"verdict: AGREE - every step within {r.tolerance:.0e} of torch.optim.{torch_cls}"
            if not r.note
            else f"verdict: AGREE - torch.optim.{torch_cls} to float32 rounding (settled in float64, see the note)",
            "VARIANT": f"verdict: VARIANT - an equivalent form of torch.optim.{torch_cls}, not a bug",
            "MISMATCH": f"verdict: MISMATCH - your {r.rule} differs from torch.optim.{torch_cls}",
        }[r.verdict]
    )
    return "\n".join(lines)


__all__ = ["check", "format_report", "load", "reference", "VARIANTS", "OptimReport"]
