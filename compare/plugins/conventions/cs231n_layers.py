"""CS231n's ``FullyConnectedNet`` with ``normalization`` and dropout: what the object says it has, checked
against the run's ``--norm``/``--dropout``; its running statistics in ``bn_params``; the judge's dropout masks
through its own draws (``compare.plugins.draws``).

The handouts differ by year: 2019+ nets have ``normalization`` ('batchnorm', 'layernorm' or None) and
``dropout_keep_ratio`` (``dropout_param['p']`` keeps); 2017's have ``use_batchnorm`` and ``dropout``
(``dropout_param['p']`` drops, the mask ``rand >= p``).  Both are judged as written."""

from __future__ import annotations

import contextlib

import numpy as np

from compare import architecture
from compare.plugins.draws import JudgedDraws, uniforms
from compare.plugins.protocol import PluginError


def normalization_of(obj) -> str | None:
    """What the object says it normalizes with: its ``normalization`` (2019+), ``use_batchnorm`` (2017), or
    None when it says nothing (its γ/β parameters then speak for it: ``hint``)."""
    if hasattr(obj, "normalization"):
        return obj.normalization or "none"
    if hasattr(obj, "use_batchnorm"):
        return "batchnorm" if obj.use_batchnorm else "none"
    return None


def hint(message: str, spec) -> str:
    """A parameter check's message, with the flag that judges a net whose γ/β the run has no place for."""
    if spec.norm == "none" and ("parameter gamma" in message or "parameter beta" in message):
        return f"{message}; a normalization layer's γ/β: judge it with --norm batchnorm or --norm layernorm"
    return message


def check(label: str, obj, spec) -> str | None:
    """The object's normalization and dropout against the run's, each difference one line; returns how its
    dropout draws turn into kept units (``compare.plugins.draws.RULES``), or None without dropout."""
    norm = normalization_of(obj)
    if norm is not None and norm != spec.norm:
        raise PluginError(
            f"{label}: the net's normalization is {norm!r} and the run's is --norm {spec.norm}: judge it with "
            f"--norm {norm}"
        )
    param = getattr(obj, "dropout_param", None) or {}
    uses = bool(getattr(obj, "use_dropout", bool(param)))
    p = param.get("p") if isinstance(param, dict) else None
    if not spec.dropout:
        if uses:
            raise PluginError(
                f"{label}: the net uses dropout (dropout_param['p'] = {p}) and the run has none: judge it with "
                "--dropout P, P the probability of dropping a unit"
            )
        return None
    keep = 1.0 - spec.dropout
    if not uses or not isinstance(p, (int, float)):
        raise PluginError(
            f"{label}: the run has --dropout {spec.dropout:g} and the net no dropout (use_dropout is off): give its "
            "factory dropout_keep_ratio (or dropout), or run without --dropout"
        )
    if abs(p - keep) <= 1e-12:
        return "below keep"  # 2018+: dropout_param['p'] keeps
    if abs(p - spec.dropout) <= 1e-12:
        return "above drop"  # 2016-17: dropout_param['p'] drops
    raise PluginError(
        f"{label}: dropout_param['p'] is {p:g}, neither the keep probability {keep:g} nor the drop probability "
        f"{spec.dropout:g} of --dropout {spec.dropout:g}: give the run the net's dropout"
    )


def notes(spec, rule: str | None) -> list[str]:
    """What the header says of the conventions read from the net, and how the reference follows them."""
    out = []
    if architecture.buffers(spec):
        out.append(
            "running variance: the batch's biased one, as the handout keeps it in bn_params (the reference follows it)"
        )
    if spec.dropout:
        p = 1 - spec.dropout if rule == "below keep" else spec.dropout
        how = "keeps" if rule == "below keep" else "drops"
        out.append(
            f"dropout: its dropout_param['p'] = {p:g} {how} a unit; its masks are the judge's, through its own "
            "np.random.rand draws (the same masks go to the reference)"
        )
    if spec.stochastic:
        out.append("loss(X) gives test-mode scores only: a training step is judged by its reported loss and gradients")
    return out


@contextlib.contextmanager
def judged_masks(label: str, spec, masks: dict | None, rule: str | None):
    """Around the learner's ``loss(X, y)``: its dropout draws give the judge's ``masks`` (nothing without)."""
    if not masks:
        yield _Unchecked()
        return
    keep = 1.0 - spec.dropout
    arrays = [uniforms(masks[layer.name], keep, rule or "below keep") for layer in spec.layers if layer.name in masks]
    with JudgedDraws(label, arrays) as draws:
        yield draws


class _Unchecked:
    def check(self) -> None:
        pass


def _bn_params(obj, spec) -> list:
    entries = architecture.buffers(spec)
    if not entries:
        return []
    bn = getattr(obj, "bn_params", None)
    hidden = len(spec.hidden)
    if not isinstance(bn, list) or len(bn) != hidden or not all(isinstance(b, dict) for b in bn):
        raise PluginError(
            f"{type(obj).__name__}: a CS231n batchnorm net keeps one bn_param dict per hidden layer in "
            f"self.bn_params ({hidden} here); found {type(bn).__name__}"
        )
    return bn


STATS = {"running_mean": "running_mean", "running_var": "running_var"}  # torch's buffer → bn_param's key


def read_running(obj, spec) -> dict[str, np.ndarray]:
    """Its running statistics in torch's names (the handout keeps no count of batches)."""
    bn = _bn_params(obj, spec)
    out = {}
    for e in architecture.buffers(spec):
        key = e.name.rsplit(".", 1)[1]
        if key in STATS and bn:
            value = bn[e.layer.index - 1].get(STATS[key])
            if value is not None:
                out[e.name] = np.array(value, dtype=np.float64, copy=True)
    return out


def write_running(label: str, obj, spec, state: dict, dtype) -> None:
    bn = _bn_params(obj, spec)
    for e in architecture.buffers(spec):
        key = e.name.rsplit(".", 1)[1]
        if key in STATS and e.name in state:
            bn[e.layer.index - 1][STATS[key]] = np.array(state[e.name], dtype=np.dtype(dtype), copy=True)
