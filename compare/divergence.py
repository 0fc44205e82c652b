"""How two twins part, told truthfully: a non-finite loss (which side, and whether the other was still
finite), a chaotic run told from a bug (re-synchronise and compare one step's gradients), and a run
that collapsed to chance (which side, from which step).

In float64 the twins follow each other step by step, but an unstable run (a large learning rate, no
schedule) amplifies rounding without bound: the trajectories may part although neither twin is wrong.
So when the parameters first leave their tolerance, the judge puts both sides on the same parameters
(torch's) and compares their gradients on the same batch (``resync``).  Agreement to rounding means
the run is chaotic, and lockstep judges the steps before it parted; disagreement is a real mismatch at
that step.
"""

from __future__ import annotations

import math

import numpy as np

from compare.architecture.dropout import draw_masks
from compare.errors import NonFiniteLoss
from compare.numerics import rel as rel_err
from compare.verdicts import GRADCHECK


# --- a non-finite loss ------------------------------------------------------------------------
def check_finite(twins, values: dict[str, np.ndarray], first: int) -> None:
    """Raise ``NonFiniteLoss`` for the first twin whose judged loss is NaN or inf among steps
    ``first``…, saying what the other twin had at that step and what the hand-written logits held."""
    for t in twins:
        bad = np.flatnonzero(~np.isfinite(values[t.name]))
        if not bad.size:
            continue
        i = int(bad[0])
        detail, advice = "", "try a smaller --lr"
        logits = getattr(t, "nonfinite_logits", None)
        if logits:
            detail = f" (its logits held {logits})"
        others = {o.label: float(values[o.name][i]) for o in twins if o is not t}
        for label, other in others.items():
            if math.isfinite(other):
                detail += f", while {label}'s loss at that step is {other:.6g}"
                advice = (
                    "with the same weights and batches one side stayed finite, so this is not the learning "
                    "rate alone: simplenet gradcheck checks the hand-written side's forward and gradients"
                )
        raise NonFiniteLoss(t.name, first + i, float(values[t.name][i]), detail=detail, advice=advice)


# --- chaos or bug -----------------------------------------------------------------------------
def loss_growth(histories: dict) -> tuple[float | None, float | None]:
    """(the first relative |Δloss| between the twins, the per-step growth of |Δloss| from there to its
    largest) over the steps so far; (None, None) when the losses never differed."""
    a, b = (np.asarray(histories[n].step_loss, dtype=np.float64) for n in ("manual", "torch"))
    diff = np.abs(a - b)
    differ = np.flatnonzero(diff > 0)
    if not differ.size:
        return None, None
    first, last = int(differ[0]), int(np.argmax(diff))
    origin = float(diff[first] / max(abs(b[first]), 1.0))
    if last <= first or diff[last] <= diff[first]:
        return origin, None
    return origin, math.exp(math.log(diff[last] / diff[first]) / (last - first))


UPDATE_TOLERANCE = 1e-4  # relative: the optimizers' states drifted with the parameters (~1e-8 when they part)
FLOAT32_PARTING = 1e-4  # a float32 run's per-step losses this far apart: the probe looks for a real cause there


def resync(twins, batches: list[np.ndarray], dtype: str, update: bool = True) -> dict:
    """One step of each of ``batches`` by both twins from the torch twin's parameters (each with its own
    optimizer state): the largest relative difference of their logits and gradients (gradcheck's
    tolerance) and of their updates (``UPDATE_TOLERANCE``), where it is, and whether all agree."""
    hand, torch_twin = (next(t for t in twins if t.name == n) for n in ("manual", "torch"))
    state = {k: np.array(v, dtype=np.float64) for k, v in torch_twin.params().items()}
    tol = GRADCHECK[dtype]
    worst = {"gradients": (0.0, None), "update": (0.0, None)}
    first_wrong = None  # (rows, the hand-written side's logits and gradients) of the first batch that differs
    for i, rows in enumerate(batches):
        masks = draw_masks(hand.cfg.spec, len(rows), np.random.default_rng((len(batches), i)))  # the same for both
        t_grads, t_logits, t_moved = torch_twin.probe(state, rows, update, masks)
        m_grads, m_logits, m_moved = hand.probe(state, rows, update, masks)
        # a bias just before batchnorm has gradient 0 up to rounding on both sides: not judged by relative
        # error, and its update (the optimizer's arithmetic on rounding noise) not at all
        zero = {k: level for k, level in torch_twin.zero_levels.items() if zero_both(m_grads.get(k), t_grads[k], level)}
        if len(rows) < max(layer.kind.proof_min_rows for layer in hand.cfg.spec.layers):
            zero = dict.fromkeys(t_grads, 0.0)  # batchnorm on 2 rows: every gradient below it is 0 (rounding noise)
        pairs = {k: (m_grads.get(k), g) for k, g in t_grads.items() if k not in zero}
        if m_logits is not None:  # a convention with no training-mode scores gives none
            pairs = {"logits": (m_logits, t_logits), **pairs}
        if first_wrong is None and any(rel_err(m, t) > tol for m, t in pairs.values() if m is not None):
            first_wrong = (rows, m_logits, m_grads, masks, set(zero))
        for kind, found in (
            ("gradients", pairs),
            ("update", {f"update of {k}": (m_moved.get(k), d) for k, d in t_moved.items() if k not in zero}),
        ):
            for name, (m, t) in found.items():
                err = rel_err(m, t) if m is not None else math.inf
                if err > worst[kind][0] or worst[kind][1] is None:
                    worst[kind] = (err, name)
    (g_err, g_at), (u_err, u_at) = worst["gradients"], worst["update"]
    if g_err > tol or not update or u_err <= UPDATE_TOLERANCE:
        err, at, limit = g_err, g_at, tol
    else:
        err, at, limit = u_err, u_at, UPDATE_TOLERANCE
    agree = g_err <= tol and (not update or u_err <= UPDATE_TOLERANCE)
    cause = catalogue_cause(hand, state, first_wrong, tol) if first_wrong is not None else None
    return {
        "cause": cause,
        "gradients_rel_err": g_err,
        "update_rel_err": u_err if update else None,
        "parameter": at,
        "rel_err": err,
        "tolerance": limit,
        "agree": agree,
        "batches": len(batches),
    }


def zero_both(mine, ref, level: float) -> bool:
    """Both gradients 0 up to ``level`` (``compare.architecture.proof.CancelledBiases``)."""
    return mine is not None and np.abs(mine).max(initial=0.0) <= level and np.abs(ref).max(initial=0.0) <= level


def layer_cause(hand, state: dict, rows, logits, grads: dict, masks: dict, zero: set, tol: float) -> dict | None:
    """The layer catalogue's batchnorm/dropout bug that reproduces the hand-written side's gradients (and its
    training scores, where it gives them) on that batch and those masks, re-enacted on autograd
    (``compare.architecture.bugs``); None when none does."""
    import torch

    import torch_impl
    from compare.architecture import bugs
    from compare.architecture.proof import follow_biased_variance
    from compare.torch_twin import build_torch

    spec = hand.cfg.spec
    net = build_torch(spec, state, "float64")  # the torch twin's parameters and running statistics
    if getattr(hand.model, "running_var_biased", False):
        follow_biased_variance(spec, net)
    x = torch.as_tensor(np.asarray(hand.x_train[rows], dtype=np.float64))
    y = torch.as_tensor(np.asarray(hand.y_train[rows]))
    run = hand.model.run_penalty
    loss_fn, penalty = torch_impl.LOSSES[spec.loss](), torch_impl.WeightPenalty(run.l2, run.l1)

    def torch_step():
        loss, out = torch_impl.train.forward_backward(net, loss_fn, x, y, penalty=penalty)
        return float(loss), out.detach().numpy()

    found = bugs.training(spec, net, masks, grads, tol, torch_step, skip=zero, logits=logits)
    return None if found is None else {k: v for k, v in found.items() if k in ("code", "message", "layer")}


def catalogue_cause(hand, state: dict, wrong, tol: float) -> dict | None:
    """What gradcheck would name, at the parameters and on the batch where the twins' logits or gradients
    differ: the gradient catalogue's forward and backward bugs re-enacted there (SimpleNet's own shape)."""
    from compare import catalogue

    spec = hand.cfg.spec
    rows, logits, grads, masks, zero = wrong
    if spec.stochastic:
        return layer_cause(hand, state, rows, logits, grads, masks, zero, tol)
    if not spec.reenactable:
        return None
    x, y = np.asarray(hand.x_train[rows], dtype=np.float64), np.asarray(hand.y_train[rows])
    l2, l1 = hand.model.run_penalty.l2, hand.model.run_penalty.l1
    for kind in ("forward", "backward"):
        found = catalogue.reenact(kind, state, spec.activation, x, y, logits, grads, tol, l2, l1)
        if found is not None:
            return {k: v for k, v in found.items() if k in ("code", "message", "layer", "layers", "variant")}
    return None


def departure(twins, batches: list[np.ndarray], dtype: str, histories: dict, judged_steps: int) -> dict:
    """What the judge found where the twins first parted (beyond a float64 tolerance): ``resync`` on the
    batches of the steps read back there, how |Δloss| started and grew, and the steps judged (before).
    Chaotic, not wrong, when every batch's logits, gradients and update agree from the same parameters;
    a plug-in optimizer's update is not re-enacted, so there it stays unexplained."""
    own_optimizer = getattr(next(t for t in twins if t.name == "manual").optimizer, "target", None)
    # float32's optimizer states drift apart with its rounding: only float64 compares the updates
    found = resync(twins, batches, dtype, update=own_optimizer is None and dtype == "float64")
    origin, growth = loss_growth(histories)
    return {
        **found,
        "step": judged_steps + 1,
        "judged_steps": judged_steps,
        "origin": origin,
        "growth": growth,
        "chaotic": found["agree"] and own_optimizer is None and dtype == "float64",
        "optimizer": own_optimizer,
    }


def chaos_note(chaos: dict) -> str:
    """The verdict's note on a run that parted: chaotic (the twins agree), a mismatch at that step, or
    unexplained (a plug-in optimizer's update, which is not re-enacted)."""
    step, n = chaos["step"], chaos.get("batches", 1)
    if not chaos["agree"]:
        what = str(chaos["parameter"])
        how = "logits" if what == "logits" else "updates" if what.startswith("update of") else "gradients"
        cause = chaos.get("cause")
        named = (
            f" - as gradcheck names it there: [{cause['code']}] {cause['message']}"
            if cause
            else "; simplenet gradcheck names a wrong gradient, simplenet optimcheck a wrong update"
        )
        return (
            f"at step {step}, put on the same parameters, the twins' {how} differ: max relative error "
            f"{chaos['rel_err']:.2e} in {what} (tolerance {chaos['tolerance']:.0e}) - a real mismatch, not "
            f"rounding{named}"
        )
    if not chaos.get("chaotic"):
        return (
            f"the twins parted at step {step}; there, put on the same parameters, their logits and gradients agree "
            f"(max relative error {chaos['gradients_rel_err']:.1e}), but the update comes from your optimizer "
            f"({chaos['optimizer']}), which this does not re-enact: simplenet optimcheck --plugin-optimizer "
            f"{chaos['optimizer']} compares it step by step"
        )
    growth = chaos.get("growth")
    grew = ""
    if growth and growth > 1:
        doubling = (
            "more than doubling each step"
            if growth >= 2
            else f"doubling every {math.log(2) / math.log(growth):.0f} steps"
        )
        grew = f"; their loss difference grew ×{growth:.4g} per step ({doubling})"
    same = (
        f"put on the same parameters, their logits, gradients and updates agree on each of the {n} batch(es) read "
        f"back (logits and gradients within {chaos['gradients_rel_err']:.1e}, updates within "
        f"{chaos['update_rel_err']:.1e}){grew}"
    )
    if chaos["judged_steps"] == 0:
        return (
            f"unstable run: the twins parted within the first {n} steps, so lockstep could judge none of them; "
            f"there, {same}. The twins are right; the run amplifies rounding from the start: a smaller --lr or a "
            "schedule"
        )
    return (
        f"chaotic run: the twins parted after step {chaos['judged_steps']}, yet there, {same}. The twins are right; "
        f"the run amplifies rounding without bound, so lockstep judges steps 1-{chaos['judged_steps']} and reports "
        "the rest. To follow it further: a smaller --lr or a schedule (float64 is as far as lockstep can go)"
    )


# --- a collapse to chance ---------------------------------------------------------------------
def collapse(step_loss: list[float], epochs: list[dict], classes: int, window: int = 100) -> dict | None:
    """A twin whose training fell back to chance after it had learned: its ``window``-step mean train loss
    back at ln(classes) or above (the loss of a uniform guess), or its test accuracy at chance (≤ 1.5/C).
    Returns the step and the figures, or None."""
    chance = math.log(classes)
    losses = np.asarray(step_loss, dtype=np.float64)
    if len(losses) >= 2 * window:
        mean = np.convolve(losses, np.ones(window) / window, mode="valid")
        learned = np.flatnonzero(mean < 0.75 * chance)
        if learned.size:
            after = np.flatnonzero(mean[learned[0] :] >= 0.98 * chance)
            if after.size:
                at = int(learned[0] + after[0])
                return {"step": at + window, "mean_loss": float(mean[at]), "chance_loss": chance}
    for k, e in enumerate(epochs):
        if e["test_accuracy"] <= 1.5 / classes and any(p["test_accuracy"] > 3 / classes for p in epochs[:k]):
            return {"epoch": k + 1, "test_accuracy": e["test_accuracy"], "chance_loss": chance}
    return None


def collapse_note(label: str, c: dict) -> str:
    if "step" in c:
        return (
            f"{label} collapsed at step {c['step']}: its {100}-step mean train loss rose back to "
            f"{c['mean_loss']:.3f}, the loss of a uniform guess (ln {round(math.exp(c['chance_loss']))} = "
            f"{c['chance_loss']:.3f}); a smaller --lr or a schedule keeps it training"
        )
    return (
        f"{label} collapsed by epoch {c['epoch']}: test accuracy {c['test_accuracy']:.4f}, chance level "
        "after it had learned; a smaller --lr or a schedule keeps it training"
    )
