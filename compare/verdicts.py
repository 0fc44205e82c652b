"""Every tolerance the judge applies and the lockstep verdict, in one place (docs/tolerances.md).

* ``GRADCHECK``: rel(hand-written, autograd) of the forward, the loss and each gradient, by dtype, and
  finite differences' ``FD_ATOL``/``FD_RTOL`` at step ``H``;
* ``OPTIMCHECK``: an optimizer's parameters after each step against torch.optim's, by dtype;
* ``LOCKSTEP``: the figures of two trajectories trained side by side (``lockstep_report``).
"""

from __future__ import annotations

import numpy as np

GRADCHECK = {"float64": 1e-10, "float32": 1e-5}
# finite differences (float64, central, step H): |fd − analytic| ≤ FD_ATOL + FD_RTOL·|analytic|
H, FD_ATOL, FD_RTOL = 1e-5, 1e-8, 1e-6
OPTIMCHECK = {"float64": 1e-12, "float32": 1e-6}

# Lockstep tolerances by dtype (docs/tolerances.md).  float64 follows the twins step by
# step; float32 trajectories agree to rounding for a while, then separate (rounding noise is
# amplified by training, as between any two float32 runs), so float32 judges the curves a
# user looks at: the 100-step moving average of the train loss and the per-epoch test
# figures.  ``None`` = measured and reported, not judged.
WINDOW = 100
LOCKSTEP = LOCKSTEP_TOLERANCE = {
    "float64": {
        "step_loss": 1e-9,
        "window_loss": 1e-9,
        "test_accuracy": 1e-4,
        "final_test_accuracy": 1e-4,
        "test_loss": 1e-9,
        "params": 1e-8,
    },
    "float32": {
        "step_loss": None,
        "window_loss": 5e-2,
        "test_accuracy": 2e-2,
        "final_test_accuracy": 5e-3,
        "test_loss": 1e-1,
        "params": None,
    },
}
CHECK_NAMES = {
    "step_loss": "max per-step |Δloss|",
    "window_loss": f"max |Δ| {WINDOW}-step mean loss",
    "test_accuracy": "max epoch |Δ test accuracy|",
    "final_test_accuracy": "final |Δ test accuracy|",
    "test_loss": "max epoch |Δ test loss|",
    "params": "max |Δθ| along the run",
}


def param_max_abs_diff(twins) -> float:
    """The largest |Δθ| between the twins' parameters; inf when either holds a NaN or inf."""
    a, b = twins[0].params(), twins[1].params()
    worst = max(float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) for k in a)
    return worst if np.isfinite(worst) else float("inf")


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(x)))
    return np.convolve(x, np.ones(window) / window, mode="valid")


def trajectory_figures(a, b, m_epochs, t_epochs, params: float) -> dict:
    """The lockstep figures of two trajectories: per-step losses ``a``/``b``, epoch rows, the parameters'
    largest difference.  A NaN or inf anywhere is inf: never within a tolerance."""

    def largest(values) -> float:
        values = np.asarray(list(values), dtype=np.float64)
        return float(values.max(initial=0.0)) if np.isfinite(values).all() else float("inf")

    return {
        "step_loss": largest(np.abs(a - b)),
        "window_loss": largest(np.abs(moving_average(a, WINDOW) - moving_average(b, WINDOW))) if len(a) else 0.0,
        "test_accuracy": largest(abs(x["test_accuracy"] - y["test_accuracy"]) for x, y in zip(m_epochs, t_epochs)),
        "final_test_accuracy": largest([abs(m_epochs[-1]["test_accuracy"] - t_epochs[-1]["test_accuracy"])])
        if m_epochs
        else 0.0,
        "test_loss": largest(abs(x["test_loss"] - y["test_loss"]) for x, y in zip(m_epochs, t_epochs)),
        "params": params if np.isfinite(params) else float("inf"),
    }


def lockstep_report(
    histories: dict,
    twins,
    dtype: str,
    *,
    max_param_diff: float = 0.0,
    params_left_at: int | None = None,
    chaos: dict | None = None,
    classes: int = 10,
) -> dict:
    """Measured divergence of the two twins' trajectories, each against its tolerance for ``dtype``.

    Every figure is the judge's own: the per-step loss is the cross-entropy of each side's logits,
    the parameters are compared along the run (``max_param_diff``, at every read-back) and at its
    end.  The hand-written side's *reported* loss is shown beside them and never judged; when it
    alone differs, ``notes`` says how (``compare.catalogue.loss_diagnosis``).

    A run whose parameters parted where re-synchronising found the twins' gradients equal (``chaos``,
    compare.divergence) is chaotic, not wrong: its checks judge the steps before it parted, and the whole
    run's figures are reported beside them."""
    from compare import divergence

    m, t = histories["manual"], histories["torch"]
    a, b = np.asarray(m.step_loss), np.asarray(t.step_loss)
    diff = np.abs(a - b)
    separated = np.flatnonzero(diff > 1e-4)
    whole = trajectory_figures(a, b, m.epochs, t.epochs, max(param_max_abs_diff(twins), max_param_diff))
    chaotic = bool(chaos and chaos.get("chaotic"))
    tol = LOCKSTEP_TOLERANCE[dtype]
    if chaotic:
        n = chaos["judged_steps"]
        epochs = [(x, y) for x, y in zip(m.epochs, t.epochs) if x["step"] <= n]
        measured = trajectory_figures(
            a[:n], b[:n], [x for x, _ in epochs], [y for _, y in epochs], chaos.get("params_before", 0.0)
        )
        unjudged = set() if epochs else {"test_accuracy", "final_test_accuracy", "test_loss"}
        if n == 0:  # parted within the first read-back: only the re-synchronised gradients were judged
            unjudged = set(measured)
    else:
        measured, unjudged = whole, set()
    checks = [
        {
            "check": key,
            "name": CHECK_NAMES[key] + (" (whole run)" if key in unjudged else ""),
            "measured": whole[key] if key in unjudged else value,
            "tolerance": tol[key],
            "passed": None if tol[key] is None or key in unjudged else value <= tol[key],
        }
        for key, value in measured.items()
    ]
    if chaotic:
        checks += [
            {
                "check": f"{key}_whole_run",
                "name": CHECK_NAMES[key] + " (whole run)",
                "measured": whole[key],
                "tolerance": None,
                "passed": None,
            }
            for key in ("step_loss", "final_test_accuracy", "params")
            if key not in unjudged
        ]
    manual_twin = next(t for t in twins if t.name == "manual")
    checks.append(
        {
            "check": "reported_loss",
            "name": "max |reported − judged loss|",
            "measured": manual_twin.reported_max_diff,
            "tolerance": None,
            "passed": None,
        }
    )
    passed = all(c["passed"] is not False for c in checks)
    notes = []
    if manual_twin.loss_note is not None:
        d = manual_twin.loss_note
        notes.append(
            f"{d['code']}"
            + (f" at {d['clip']:g}" if "clip" in d else "")
            + f": {d['message']}"
            + ("; the judged loss and your parameters agree" if passed else "")
        )
    if chaos is not None and (dtype == "float64" or not chaos["agree"]):  # float32 parts by rounding: said only if real
        notes.append(divergence.chaos_note(chaos))
    for name, h in histories.items():
        fell = divergence.collapse(h.step_loss, h.epochs, classes)
        if fell is not None:
            label = next((tw.label for tw in twins if tw.name == name), name)
            notes.append(divergence.collapse_note(f"the {label} twin" if name == "torch" else label, fell))
    if params_left_at is not None and not chaotic:
        notes.append(
            f"the parameters left the {tol['params']:.0e} tolerance first at step {params_left_at} "
            "(read back every --log-every steps)"
        )
    own_optimizer = getattr(manual_twin.optimizer, "target", None)
    if not passed and own_optimizer:
        notes.append(
            f"the hand-written side was updated by your optimizer: `simplenet optimcheck "
            f"--plugin-optimizer {own_optimizer}` compares it with torch.optim step by step and names the bug, "
            "and `simplenet gradcheck` your gradients"
        )
    return {
        "passed": passed,
        "checks": checks,
        "measured": measured,
        "notes": notes,
        "loss_diagnosis": manual_twin.loss_note,
        "params_left_at": params_left_at,
        "judged_steps": chaos["judged_steps"] if chaotic else None,
        "chaos": chaos,
        "steps_within_1e-4": int(separated[0]) if separated.size else len(diff),
    }
