"""The gradient proof: one batch, one set of weights, a hand-written implementation and autograd,
every parameter compared, and every one that fails diagnosed (``compare.diagnose``).

Relative error is measured against the tensor's scale,

    rel(a, b) = max_i |a_i − b_i| / max(max_i |a_i|, max_i |b_i|, 1e-300),

which never divides by zero and does not blow up on entries that are zero in both twins
(dead ReLU units) or that cancel to rounding noise.
"""

from __future__ import annotations

import numpy as np
import torch

import manual
from compare import architecture, catalogue, distributed, plugins
from compare.architecture import affine_name, bugs, proof
from compare.config import ModelSpec
from compare.diagnose import diagnose, layer_of
from compare.distributed import SINGLE, World
from compare.errors import ConfigError
from compare.faults import inject
from compare.gradreport import (  # noqa: F401  (the proof's result as data; re-exported)
    FD_BOTH,
    FD_OK,
    FD_PLUGIN_LOSS,
    FD_TORCH_WRONG,
    FD_UNEXPLAINED,
    FDCheck,
    GradReport,
    ParamCheck,
    fd_verdict,
    param_check,
)
from compare.numerics import TINY
from compare.numerics import rel as max_rel_err
from compare.plugins import Implementation
from compare.twins import build_manual, build_torch, initial_state
from compare.verdicts import FD_ATOL, FD_RTOL, H
from compare.verdicts import GRADCHECK as TOLERANCE  # rel(manual, autograd) by dtype


def torch_forward_backward(
    net: torch.nn.Module, x, y, world: World = SINGLE, penalty=None, loss_fn=None
) -> tuple[float, np.ndarray]:
    """Autograd's loss, logits and (in ``net``'s parameters) gradients of the batch.  Under DDP each
    rank differentiates its shard's weighted loss and DistributedDataParallel averages the gradients,
    which must then be the whole batch's (``compare.distributed``)."""
    net.zero_grad()
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss()
    if world.size == 1:
        logits = net(torch.as_tensor(x))
        loss = loss_fn(logits, torch.as_tensor(y))
        if penalty:
            loss = loss + penalty([layer.weight for layer in net.layers])
        loss.backward()
        return float(loss.detach()), logits.detach().numpy()
    a, b = distributed.shard(0, len(x), world)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    logits = ddp(torch.as_tensor(x[a:b]))
    loss = loss_fn(logits, torch.as_tensor(y[a:b])) if b > a else logits.sum()
    if penalty and b > a:
        loss = loss + penalty([layer.weight for layer in net.layers])
    (loss * distributed.shard_weight(b - a, len(x), world) if b > a else loss * 0.0).backward()
    total = loss.detach() * ((b - a) / len(x)) if b > a else torch.zeros((), dtype=logits.dtype)
    torch.distributed.all_reduce(total)
    with torch.no_grad():
        full = net(torch.as_tensor(x)).numpy()
    return float(total), full


def build_implementation(
    target,
    spec: ModelSpec,
    state: dict,
    dtype: str,
    convention: str | None,
    fault: str | None,
    l2: float = 0.0,
    l1: float = 0.0,
) -> Implementation:
    impl = plugins.load(target, spec, dtype, convention=convention, state=state, l2=l2, l1=l1)
    if fault:
        if impl.convention != "ours":
            raise ConfigError(
                f"--inject-fault breaks layers of the ours convention; {impl.label} is "
                f"{impl.convention} - plant the bug in its code instead"
            )
        inject(impl.model, impl.criterion, fault)
    return impl


def gradient_proof(
    x: np.ndarray,
    y: np.ndarray,
    *,
    spec: ModelSpec = ModelSpec(),
    seed: int = 0,
    dtype: str = "float64",
    source: str = "given batch",
    fault: str | None = None,
    fd: bool = False,
    fd_samples: int | None = 16,
    manual_target=plugins.DEFAULT_TARGET,
    convention: str | None = None,
    world: World = SINGLE,
    l2: float = 0.0,
    l1: float = 0.0,
) -> GradReport:
    """Load ONE set of initial weights into the hand-written implementation ``manual_target`` (our twin
    by default; any plug-in, or a factory callable) and into autograd, run forward + backward on
    (x, y); compare the forward first (logits, reported loss), then every parameter, and diagnose
    each that fails."""
    tol = TOLERANCE[dtype]
    given = dict(  # as called: a float32 proof of a batchnorm net may be settled in float64 (settle_float32)
        spec=spec, seed=seed, source=source, fault=fault, manual_target=manual_target, convention=convention,
        world=world, l2=l2, l1=l1,
    )  # fmt: skip
    architecture.check_rows(spec, len(x), "the batch", proof=True)
    architecture.check_shards(spec, world.size)
    state = initial_state(spec, seed)
    impl = build_implementation(manual_target, spec, state, dtype, convention, fault, l2, l1)
    t_net = build_torch(spec, state, dtype)
    x = np.asarray(x, dtype=np.dtype(dtype))
    y = np.asarray(y)
    import torch_impl

    masks = proof.masks_for(spec, len(x), seed, 0)  # the judge's dropout masks, the same for both sides
    impl.feed_masks(masks)
    m_loss, m_logits, m_grads, native_shapes = impl.raw_gradients(x.copy(), y.copy())
    m_grads = {k: None if g is None else np.array(g, copy=True) for k, g in m_grads.items()}
    # cs231n's loss(X): the scores, which a net with batchnorm or dropout gives in test mode only
    test_forward = m_logits is None and spec.stochastic and not getattr(impl, "train_logits", True)
    if m_logits is None and not test_forward:
        impl.feed_masks(masks)
        m_logits = impl.forward(x.copy())
    m_logits = None if m_logits is None else np.array(m_logits, copy=True)
    # a learner's own L2 term may be ½·λ·ΣW² or λ·ΣW² (both correct): read from its reported loss, and
    # the reference follows it, so its gradient is judged against the derivative of the term it has
    l2_scale, loss_layer_missing = 1.0, None
    if l2 and getattr(impl, "owns_l2", False):
        weights = [state[k] for k in architecture.penalised(spec)]
        # with no training-mode scores of its own (cs231n's), its data loss is read against the reference's
        data = proof.train_logits(t_net, x, masks) if test_forward else m_logits
        found = catalogue.l2_convention(m_loss, data, y, weights, l2, l1, TOLERANCE[dtype], spec.loss)
        if found is None:  # a loss whose L2 term leaves a layer out: its convention is read from the rest
            found, loss_layer_missing = catalogue.l2_layer_missing(
                m_loss, data, y, weights, l2, l1, TOLERANCE[dtype], spec.loss
            ) or (None, None)
        l2_scale = found or 1.0
    l2 = l2 * l2_scale
    penalty = torch_impl.WeightPenalty(l2, l1)
    proof.hand_torch_masks(t_net, masks)
    cancelled = proof.CancelledBiases(spec, t_net)
    t_loss, t_logits = torch_forward_backward(t_net, x.copy(), y.copy(), world, penalty, torch_impl.LOSSES[spec.loss]())
    zero, amplification = cancelled.levels(len(x), dtype), cancelled.amplification

    t_grads = {name: p.grad.numpy() for name, p in t_net.named_parameters()}
    if test_forward:  # the forward row judges those scores against autograd's in evaluation mode, both
        if architecture.buffers(spec):  # from autograd's running statistics (judged on their own below)
            impl.load_buffers(proof.torch_buffers(t_net))
        m_logits, t_logits = np.array(impl.forward(x.copy()), copy=True), proof.eval_logits(t_net, x)
    slots = {s.name: s for s in impl.slots}
    params = [
        param_check(name, m_grads[name], b, slots[name], tol, impl.label, rounding=zero.get(name, 0.0))
        for name, b in t_grads.items()
    ]
    logits_rel = max_rel_err(m_logits, t_logits) if m_logits.shape == t_logits.shape else float("inf")
    loss_rel = abs(m_loss - t_loss) / max(abs(m_loss), abs(t_loss), TINY)
    forward = dict(
        mode="test" if test_forward else "training",
        verdict="OK" if logits_rel <= tol else "MISMATCH",
        max_rel_err=logits_rel,
        max_abs_diff=float(np.abs(m_logits - t_logits).max()),
        diagnosis=None,
    )
    loss = dict(
        manual=m_loss,
        torch=t_loss,
        abs_diff=abs(m_loss - t_loss),
        rel_err=loss_rel,
        passed=loss_rel <= tol,
        own_cross_entropy=catalogue.objective(m_logits, y, spec.loss),
        diagnosis=None,
    )
    ref_params = {k: v.astype(np.dtype(dtype)) for k, v in state.items()}
    run_penalty = manual.WeightPenalty(l2, l1).forward([ref_params[k] for k in architecture.penalised(spec)])
    loss["own_cross_entropy"] += run_penalty
    notes = explain(
        params,
        forward,
        loss,
        m_logits,
        t_logits,
        m_grads,
        t_grads,
        x,
        y,
        tol=tol,
        dtype=dtype,
        spec=spec,
        ref_params=ref_params,
        slots=slots,
        native_shapes=native_shapes,
        l2=l2,
        l1=l1,
        penalty=run_penalty,
    )
    if spec.stochastic:  # the layer catalogue's bugs that reproduce a failing row; the running statistics; test mode

        def torch_step():
            return torch_forward_backward(t_net, x.copy(), y.copy(), world, penalty, torch_impl.LOSSES[spec.loss]())

        name_layer_bugs(spec, params, forward, loss, t_net, x, m_logits, masks, m_grads, tol, zero, torch_step)
        params += mode_checks(spec, impl, t_net, x, y, seed, tol, torch_step, state)
    if loss_layer_missing is not None:  # the value a learner's notebook checks: failed, not noted
        loss["diagnosis"] = dict(
            code="reg-loss-layer-missing",
            layer=affine_name(loss_layer_missing),
            message=(
                f"{affine_name(loss_layer_missing)}'s weights are missing from the L2 term of your reported loss (often the "
                f"last layer, left out of the loop); the rest follows {catalogue.L2_CONVENTIONS[l2_scale]}"
            ),
        )
        loss["fails"] = True
        notes = [n for n in notes if not n.startswith("reg-")]
    report = GradReport(
        dtype=dtype,
        tolerance=tol,
        batch_size=len(x),
        source=source,
        params=params,
        spec=spec.describe()
        + (f", L2 λ={l2 / l2_scale:g} as {catalogue.L2_CONVENTIONS[l2_scale]}" if l2 else "")
        + (f", L1 λ={l1:g}" if l1 else ""),
        loss=loss,
        logits=dict(max_abs_diff=forward["max_abs_diff"], max_rel_err=logits_rel, passed=logits_rel <= tol),
        forward=forward,
        fault=fault,
        fd=finite_differences(
            spec,
            state,
            x,
            y,
            t_grads,
            samples=fd_samples,
            seed=seed,
            fault=fault,
            manual_target=manual_target,
            convention=convention,
            forward_ok=logits_rel <= tol and loss_rel <= tol,
            wrong=impl.wrong_verdict,
            l2=l2,
            l1=l1,
        )
        if fd
        else None,
        world=world.describe(),
        notes=notes,
        conventions=architecture.conventions(spec),
        implementation=dict(
            label=impl.label,
            target=impl.target,
            convention=impl.convention,
            mapping=impl.mapping(),
            header=impl.header(),
            mapping_lines=impl.mapping_lines(),
        ),
    )
    if dtype == "float32" and not report.passed and not fd and amplification > 1:
        settle_float32(report, x, y, amplification, given)
    return report


def settle_float32(report: GradReport, x, y, amplification: float, given: dict) -> None:
    """A float32 proof of a batchnorm net whose rows fail by no more than batchnorm amplifies rounding (a unit
    whose batch variance is near 0 is divided by a small √(σ² + ε): ``amplification`` is how much more than a
    typical unit) is run again in float64 on the same batch: where that agrees, the float32 differences are
    that rounding, said on each row; where it does not, the float32 verdict stands."""
    failing = [p for p in report.params if not p.passed]
    worst = max([p.max_rel_err for p in failing] + [report.logits["max_rel_err"] * (not report.logits["passed"])])
    if worst > amplification * report.tolerance or report.loss.get("fails"):
        return
    again = gradient_proof(np.asarray(x, np.float64), np.asarray(y), dtype="float64", **given)
    if not again.passed:
        return
    note = (
        f"float32 rounding, amplified up to ×{amplification:.0f} by batchnorm (a unit's batch variance near 0): "
        "the float64 proof of this batch agrees"
    )
    for p in failing:
        p.passed, p.note, p.diagnosis, p.worst = True, note, None, []
    if not report.logits["passed"]:
        report.logits["passed"] = True
        report.forward.update(verdict="OK", diagnosis=None, note=note)
    report.notes.append(f"settled in float64: {note}")
    report.__post_init__()  # the verdict again, from the rows as they now stand


def name_layer_bugs(spec, params, forward, loss, t_net, x, m_logits, masks, grads, tol, zero, torch_step) -> None:
    """A failing training row (or test-mode forward) of a net with batchnorm or dropout: the layer catalogue's
    bug that reproduces it is named (``compare.architecture.bugs``); none is guessed."""
    failing = [p for p in params if not p.passed]
    found = None
    if failing or not loss["passed"]:
        train_logits = m_logits if forward.get("mode") != "test" else None
        found = bugs.training(spec, t_net, masks, grads, tol, torch_step, skip=set(zero), logits=train_logits)
        if found and forward["verdict"] != "OK" and train_logits is not None:
            forward["diagnosis"] = dict(found)
    if forward.get("mode") == "test":  # its own scores are test mode's: they say nothing of a training loss
        loss["own_cross_entropy"] = None
        if not loss["passed"]:
            loss["diagnosis"] = (
                dict(found)
                if found
                else dict(
                    code="unexplained",
                    message="your reported training loss is not autograd's on the same batch and dropout masks",
                )
            )
    if failing:
        for p in failing:
            if found:
                p.diagnosis = dict(found)
            elif p.diagnosis and p.diagnosis.get("code") == "upstream":  # a claim about propagation not shown here
                p.diagnosis = dict(
                    code="unexplained",
                    entered_at=p.diagnosis.get("entered_at"),
                    message=f"a layer nearer the output ({p.diagnosis.get('entered_at')}) is wrong too; whether this "
                    "one is wrong only because of it is not verified for a net with batchnorm or dropout",
                )
    if forward.get("mode") == "test" and forward["verdict"] != "OK":
        forward["diagnosis"] = bugs.test_mode(spec, t_net, x, m_logits, tol) or forward.get("diagnosis")


def mode_checks(spec, impl, t_net, x, y, seed: int, tol: float, torch_step, state: dict) -> list[ParamCheck]:
    """The rows a spec with batchnorm, layernorm or dropout adds (``compare.architecture.proof``): each running
    statistic after a few training forwards, then the loss, logits and gradients in test mode.  A failing
    row is located, not explained: the catalogue's re-enactments describe the plain net."""
    slots = {s.name: s for s in impl.slots}
    rows = [
        param_check(name, a, b, None, tol, impl.label, "running statistics")
        for name, a, b in proof.running_statistics(spec, impl, t_net, x, y, seed, state)
    ]
    tested = proof.test_mode(spec, impl, t_net, x, y, torch_step)
    rows += [param_check(name, a, b, slots.get(name), tol, impl.label, "test mode") for name, a, b in tested]
    failing = [row for row in rows if not row.passed]
    found = bugs.test_mode(spec, t_net, x, dict((n, a) for n, a, _ in tested).get("logits"), tol) if failing else None
    for row in failing:
        row.diagnosis = (
            dict(found)
            if found and row.phase == "test mode"
            else dict(
                code="unexplained",
                message=f"differs from torch's in {row.phase} only; no known signature of this phase reproduces it",
            )
        )
    return rows


def explain(
    params: list[ParamCheck],
    forward: dict,
    loss: dict,
    logits,
    t_logits,
    grads,
    t_grads,
    x,
    y,
    *,
    tol: float,
    dtype: str,
    spec: ModelSpec,
    ref_params: dict,
    slots: dict,
    native_shapes: dict,
    l2: float = 0.0,
    l1: float = 0.0,
    penalty: float = 0.0,
) -> list[str]:
    """Every diagnosis of one gradient proof, in the order a learner should fix things: arithmetic in a
    lower precision; then the forward (a wrong forward explains every wrong gradient after it); then the
    reported loss; then each gradient by its signature, and by re-enacting the catalogue's bugs where no
    signature fits.  Returns notes for what is shown but not failed (a reported loss that differs)."""
    notes = []
    failing = [p for p in params if not p.passed]
    forward_bad = forward["verdict"] != "OK"
    precision = precision_diagnosis(
        dtype, logits, grads, [forward["max_rel_err"]] * forward_bad + [p.max_rel_err for p in failing]
    )
    if precision is not None:
        if forward_bad:
            forward["diagnosis"] = dict(precision)
        for p in failing:
            p.diagnosis = dict(precision)
    elif forward_bad:
        found = (
            (
                catalogue.reenact("forward", ref_params, spec.activation, x, y, logits, grads, tol, l2, l1)
                if spec.reenactable
                else None
            )
            or catalogue.forward_signature(logits, t_logits, tol)
            or dict(
                code="unexplained",
                message="the logits differ from the reference forward's and no known "
                "forward bug reproduces them: check each layer's x·W + b and the activations in order",
            )
        )
        forward["diagnosis"] = found
        consistent = (
            " (your backward is consistent with that forward: fix the forward)"
            if found.get("backward_consistent")
            else ""
        )
        for p in failing:
            p.diagnosis = dict(
                code="forward",
                cause=found["code"],
                message=(f"follows from the forward [{found['code']}]: the gradient of a wrong forward{consistent}"),
            )
    if not loss["passed"] and forward.get("mode") != "test":  # test-mode scores say nothing of a training loss
        d = catalogue.loss_diagnosis(loss["manual"], logits, y, tol, penalty, spec.loss)
        if d is None and forward_bad:
            d = dict(
                code="forward",
                message="the reported loss is the cross-entropy of your logits: it differs because the forward does",
            )
        loss["diagnosis"] = d
        if d is not None and not forward_bad and not failing:
            notes.append(f"{d['code']}: {d['message']}; your logits and gradients agree")
    if precision is None and not forward_bad and failing:
        diagnose(params, grads, t_grads, n=len(x), tol=tol, slots=slots, native_shapes=native_shapes)
        half_sum = spec.out_features / 2  # Nielsen's ½·Σ_k against torch's mean over the classes
        if spec.loss == "mse":
            for p in failing:
                d = p.diagnosis
                if d["code"] == "scale" and abs(d["factor"] / half_sum - 1) <= 1e-4:
                    p.diagnosis = dict(
                        code="loss-half-sum",
                        factor=d["factor"],
                        message=(
                            f"{p.native} = {half_sum:g} × autograd (C/2, C = {spec.out_features}): the quadratic cost "
                            "½·Σ over the classes (Nielsen's) where torch's MSELoss means over them - a convention, "
                            "judged with --loss quadratic"
                        ),
                    )
        # a re-enactment that reproduces every gradient is the strongest evidence: it names the one bug
        # behind a set of signatures, and replaces "unexplained"/"upstream" outright
        # the catalogue's reference is SimpleNet's own objective (logits, cross-entropy)
        found = (
            catalogue.reenact("backward", ref_params, spec.activation, x, y, logits, grads, tol, l2, l1)
            if spec.reenactable
            else None
        )
        if found is not None:
            for p in failing:
                if p.diagnosis["code"] in ("unexplained", "upstream"):
                    p.diagnosis = dict(found)
                else:
                    p.diagnosis["reenacted"] = {k: v for k, v in found.items() if k != "by"}
        elif spec.reenactable:
            verify_upstream(failing, ref_params, spec.activation, x, y, grads, tol)
    return notes


def verify_upstream(failing, ref_params, activation, x, y, grads, tol) -> None:
    """``upstream`` only where it is shown: a layer's gradients must be what a correct backward makes of the
    gradient the layer above handed down (``catalogue.handed_down``); a layer that fails that has a bug
    of its own, said so."""
    for p in failing:
        d = p.diagnosis
        if d["code"] != "upstream":
            continue
        k = layer_of(p.name)
        if catalogue.handed_down(ref_params, activation, x, y, grads, k, tol):
            d["verified"] = f"{affine_name(k)}'s gradients are a correct backward of what {affine_name(k + 1)} hands it"
            continue
        p.diagnosis = dict(
            code="unexplained",
            entered_at=affine_name(k),
            message=(
                f"no known signature fits, and {affine_name(k)}'s gradients are not a correct backward of what "
                f"{affine_name(k + 1)} hands it: a bug of {affine_name(k)}'s own backward (its dW, db, or the activation's "
                f"derivative below {affine_name(k + 1)}), not only {d.get('entered_at', 'the layer above')}'s"
            ),
        )


def precision_diagnosis(dtype: str, logits, grads: dict, errors: list[float]) -> dict | None:
    """``precision`` when a float64 run gets arrays of a lower precision back, or every error sits in
    float32's rounding band (above float64's tolerance, within float32's)."""
    if dtype != "float64" or not errors:
        return None
    arrays = [np.asarray(logits)] + [np.asarray(g) for g in grads.values() if g is not None]
    low = sorted({a.dtype.name for a in arrays if a.dtype.kind == "f" and a.dtype.itemsize < 8})
    in_band = all(TOLERANCE["float64"] < e <= TOLERANCE["float32"] for e in errors)
    if not low and not in_band:
        return None
    why = (
        f"your code returns {', '.join(low)} arrays in a float64 run"
        if low
        else f"every error ({max(errors):.1e} at worst) sits at float32 rounding in a float64 run"
    )
    return dict(
        code="precision",
        low_dtypes=low,
        message=(
            f"{why}: your arithmetic runs in float32 (e.g. nnfs.init() patches np.dot to return float32, or an "
            "astype/dtype default) - run with --dtype float32, or drop it"
        ),
    )


def finite_differences(
    spec: ModelSpec,
    state: dict,
    x: np.ndarray,
    y: np.ndarray,
    torch_grads: dict[str, np.ndarray],
    *,
    samples: int | None = 16,
    seed: int = 0,
    fault: str | None = None,
    manual_target=plugins.DEFAULT_TARGET,
    convention: str | None = None,
    forward_ok: bool = True,
    wrong: str = "PLUG-IN WRONG",
    l2: float = 0.0,
    l1: float = 0.0,
) -> list[FDCheck]:
    """Central differences in float64, at ``samples`` random coordinates per parameter (every
    coordinate when ``samples`` is None), of two losses:

    * the *reference* loss - the harness's own forward (our twin's SimpleNet, mean softmax
      cross-entropy) at the same weights - against the implementation's analytic gradient and
      autograd's: the truth both must match;
    * the implementation's own loss against its own gradient: whether its backward is consistent
      with its forward (a backward that differentiates a wrong forward correctly is "FORWARD/LOSS
      DIFFERS", not a wrong backward, and never makes autograd look wrong).

    A coordinate whose ±H step flips any ReLU unit (a pre-activation within reach of the kink at 0,
    watched on the reference forward) has no derivative to compare; it is counted under ``kinks``.
    """
    impl = build_implementation(manual_target, spec, state, "float64", convention, fault, l2, l1)
    ref = build_manual(spec, state, "float64")
    ref_loss, ref_penalty = manual.LOSSES[spec.loss](), manual.WeightPenalty(l2, l1)
    ref_params = dict(ref.named_parameters())
    x = np.asarray(x, dtype=np.float64)
    masks = proof.masks_for(spec, len(x), seed, 0)  # the proof's dropout masks, the same at every evaluation
    impl.feed_masks(masks)
    analytic = impl.raw_gradients(x.copy(), y.copy()).grads
    analytic = {k: None if g is None else np.array(g, copy=True) for k, g in analytic.items()}
    relus = [a for a in ref.acts if isinstance(a, manual.ReLU)]

    def evaluate():
        """(plug-in's own loss, reference loss, ReLU masks of the reference)."""
        impl.feed_masks(masks)
        own = impl.raw_gradients(x.copy(), y.copy()).loss
        for name, keep in masks.items():
            getattr(ref, name).mask = keep
        truth = float(ref_loss(ref(x.copy()), y)) + ref_penalty.forward([layer.weight.data for layer in ref.layers])
        return own, truth, [a.mask.copy() for a in relus]

    base_masks = evaluate()[2]
    rng = np.random.default_rng(seed)
    checks = []
    for name, p in impl.params.items():
        data, mirror = p.data, ref_params[name].data  # views: writing them moves the implementation
        coords = (
            np.arange(data.size) if samples is None else rng.choice(data.size, min(samples, data.size), replace=False)
        )
        errors = {"manual": [0.0], "torch": [0.0], "own": [0.0]}
        passed = {"manual": True, "torch": True, "own": True}
        kinks = 0
        for c in coords:
            idx = np.unravel_index(int(c), data.shape)
            v, w = data[idx], mirror[idx]
            data[idx], mirror[idx] = v + H, w + H
            own_up, ref_up, masks_up = evaluate()
            data[idx], mirror[idx] = v - H, w - H
            own_down, ref_down, masks_down = evaluate()
            data[idx], mirror[idx] = v, w
            if any((m0 != m1).any() or (m0 != m2).any() for m0, m1, m2 in zip(base_masks, masks_up, masks_down)):
                kinks += 1
                continue
            fd_ref, fd_own = (ref_up - ref_down) / (2 * H), (own_up - own_down) / (2 * H)
            for side, grads, fd in (
                ("manual", analytic, fd_ref),
                ("torch", torch_grads, fd_ref),
                ("own", analytic, fd_own),
            ):
                an = value_at(grads[name], int(c), data.shape)
                err = abs(fd - an) if np.isfinite(an) and np.isfinite(fd) else float("inf")
                errors[side].append(err)
                passed[side] &= err <= FD_ATOL + FD_RTOL * abs(an)
        verdict = fd_verdict(passed["manual"], passed["torch"], passed["own"], forward_ok, wrong)
        checks.append(
            FDCheck(
                name,
                len(coords),
                kinks,
                max(errors["manual"]),
                max(errors["torch"]),
                bool(passed["manual"]),
                bool(passed["torch"]),
                max(errors["own"]),
                bool(passed["own"]),
                verdict,
            )
        )
    return checks


def value_at(grad: np.ndarray | None, c: int, shape: tuple[int, ...]) -> float:
    """Entry ``c`` (row-major) of a gradient; NaN when a broken backward gave none or a mis-shaped one."""
    if grad is None or grad.shape != tuple(shape):
        return float("nan")
    return float(grad[np.unravel_index(c, shape)])


def write_run_proof(runner) -> None:
    """gradcheck.json beside results.json, for ``simplenet report``: the hand-written side's gradient proof at
    the run's initial weights on its first training batch (float64), as ``simplenet gradcheck`` gives it.
    Only where the implementation can be loaded again by name (an in-memory object of the API cannot)."""
    import json

    from compare.errors import SimplenetError
    from compare.plugins import aliases
    from compare.process import write_file

    hand = next((t for t in runner.twins if t.name == "manual"), None)
    target = getattr(getattr(hand, "model", None), "target", None)
    if hand is None or not isinstance(target, str) or (":" not in target and target not in aliases()):
        return
    cfg = runner.cfg
    rows = np.arange(min(cfg.batch_size, len(hand.y_train)))
    try:
        proof = gradient_proof(
            np.asarray(hand.x_train[rows], dtype=np.float64),
            np.asarray(hand.y_train[rows]),
            spec=cfg.spec,
            seed=cfg.seed,
            source=f"the run's first {len(rows)} training images, at its initial weights",
            manual_target=target,
            convention=getattr(hand.model, "convention", None),
            l2=cfg.l2,
            l1=cfg.l1,
        )
    except SimplenetError:
        return  # the lockstep's verdict stands; the report says it has no gradient check
    write_file(runner.run_dir / "gradcheck.json", json.dumps(proof.to_dict(), indent=1, default=str) + "\n")
