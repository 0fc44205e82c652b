"""What every layer family shares: calling the learner's functions, comparing arrays, the registry of
layers, and the verdict of one layer - its checks against the torch reference, then, when one fails, the
catalogue of known bugs re-enacted on that reference until one reproduces the learner's numbers.

A family module registers each layer it judges with ``@register``: the course's function names it needs,
``run`` (the learner's functions on one generated case → named arrays) and ``reference`` (the same names
from torch's functional ops in the course's conventions, or with a catalogue bug planted: ``bug=code``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from compare.numerics import rel as rel_err
from compare.plugins import PluginError, call_learner

RTOL = 1e-8
OVERFLOWS = "overflows"  # a catalogue reference's output where the bug's is any NaN or inf (exp of 1000)  # max |learner − torch| / max(|torch|, |learner|) per output: float64, ~1e-15 when right


class NotWritten(Exception):
    """A function the learner has not written yet: it returned None or raised NotImplementedError."""


class Student:
    """The learner's module, its functions called through the judge's door (``call_learner``): an error
    or an exit names the function and the learner's file:line; inputs are copied first (forwards mutate
    them), so the judge's own arrays never change."""

    def __init__(self, module, label: str, files: tuple[str, ...]):
        self.module, self.label, self.files = module, label, files
        self.unwritten: list[str] = []  # optional functions (backwards) found to be skeletons, this layer

    def has(self, name: str) -> bool:
        return callable(getattr(self.module, name, None))

    def call(self, name: str, *args, returns: int = 1, what: str = ""):
        """``name(*args)``; ``returns`` values expected (``what`` names them for the error)."""
        fn = getattr(self.module, name)

        def guarded(*a):
            try:
                return fn(*a)
            except NotImplementedError:
                return NotWritten

        result = call_learner(f"{self.label}: {name}", guarded, *args, files=self.files)
        # the course's skeletons return None, or (None, None) from ``out, cache = None, None``
        if result is NotWritten or result is None or (isinstance(result, tuple) and result and result[0] is None):
            raise NotWritten(name)
        if returns > 1 and not (isinstance(result, (tuple, list)) and len(result) == returns):
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"a {type(result).__name__}"
            raise PluginError(f"{self.label}: {name} returned {got}, expected {returns} ({what})")
        return result

    def optional(self, name: str, *args, returns: int = 1, what: str = ""):
        """A function judged only when written (a backward): None when absent or a skeleton."""
        if not self.has(name):
            self.unwritten.append(name)
            return None
        try:
            return self.call(name, *args, returns=returns, what=what)
        except NotWritten:
            self.unwritten.append(name)
            return None


@dataclass
class Check:
    name: str
    rel_err: float
    tolerance: float
    passed: bool
    detail: str = ""


@dataclass
class LayerResult:
    """One row: a layer's verdict (AGREE, MISMATCH, VARIANT, NOT WRITTEN), its checks, the diagnosis."""

    function: str
    verdict: str
    checks: list[Check] = field(default_factory=list)
    diagnosis: dict | None = None
    convention: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def first_wrong(mine, ref) -> str:
    """Where and how ``mine`` first differs from ``ref``, for an unexplained mismatch."""
    a = np.asarray(mine, dtype=np.float64) if np.ndim(mine) or np.isscalar(mine) else np.asarray(mine)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape}, expected {b.shape}"
    bad = ~np.isclose(a, b, rtol=1e-7, atol=1e-12) | ~np.isfinite(a)
    if not bad.any():
        return ""
    where = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    return f"first at {list(where)}: {a[where]:.6g} where torch has {b[where]:.6g}"


def compare(mine: dict, ref: dict, tol: float) -> list[Check]:
    out = []
    for name, expected in ref.items():
        if name not in mine:
            continue
        err = rel_err(mine[name], expected)
        out.append(Check(name, err, tol, err <= tol, "" if err <= tol else first_wrong(mine[name], expected)))
    return out


def reproduces(mine: dict, ref: dict, tol: float) -> bool:
    """Every output of ``mine`` as the (buggy) reference has it: within ``tol``, or non-finite at the same
    places with the rest within ``tol`` (an unstabilised softmax's overflow is reproduced, not compared)."""

    def same(a, b) -> bool:
        if isinstance(b, str) and b == OVERFLOWS:  # the bug's output: any NaN or inf
            return not np.isfinite(np.asarray(a, dtype=np.float64)).all()
        try:
            a = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return False
        bad_a, bad_b = ~np.isfinite(a), ~np.isfinite(b)
        if bad_a.any() or bad_b.any():
            return bool((bad_a == bad_b).all()) and rel_err(a[~bad_a], b[~bad_b]) <= tol
        return rel_err(a, b) <= tol

    return all(same(mine[k], v) for k, v in ref.items() if k in mine)


def as_shape(a, shape):
    """The learner's array in ``shape`` when it holds that many numbers (a bias gradient of (1, M) for a
    bias of (M,) is a convention, not a bug), else as it is."""
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        return a
    return arr.reshape(shape) if arr.size == int(np.prod(shape)) and arr.shape != tuple(shape) else arr


# --- the registry -------------------------------------------------------------------------------
@dataclass
class Layer:
    """A layer the judge recognises: its row's name, the course's functions it needs (the first ones
    required, ``optional`` judged when present), ``run``/``reference`` as above, the catalogue (code →
    what the bug is), and bugs that are a correct convention rather than a bug (``variants``)."""

    name: str
    needs: tuple[str, ...]
    run: Callable
    reference: Callable
    case: Callable  # rng → the generated inputs
    bugs: dict[str, str] = field(default_factory=dict)
    family: str = ""


LAYERS: list[Layer] = []


def register(name: str, needs: tuple[str, ...], *, case: Callable, reference: Callable, bugs: dict[str, str]):
    """Decorator of a family module's ``run`` function: the layer ``name`` joins the registry."""

    def add(run: Callable) -> Callable:
        LAYERS.append(Layer(name, needs, run, reference, case, bugs, family=run.__module__.rsplit(".", 1)[-1]))
        return run

    return add


# --- one layer's verdict ------------------------------------------------------------------------
def judge(layer: Layer, student: Student, rng: np.random.Generator, tol: float = RTOL) -> LayerResult:
    """The learner's functions on a generated case, against the reference; a failing check is explained
    by the first catalogue bug that reproduces every output, else ``unexplained`` with the first wrong
    element."""
    case = layer.case(rng)
    student.unwritten = []
    try:
        mine = layer.run(student, case)
    except NotWritten as e:
        return LayerResult(
            layer.name, "NOT WRITTEN", diagnosis={"code": "not-written", "message": f"{e} is a skeleton"}
        )
    except PluginError as e:
        return LayerResult(layer.name, "MISMATCH", diagnosis={"code": "raises", "message": str(e)})
    convention = mine.pop("_convention", None)
    return verdict(layer, case, mine, tol, convention, ", ".join(student.unwritten))


def verdict(layer: Layer, case: dict, mine: dict, tol: float, convention=None, unwritten: str = "") -> LayerResult:
    """The learner's outputs ``mine`` against the reference on ``case``; a failure is explained by the first
    catalogue bug whose reference reproduces every output, else ``unexplained``."""
    checks = compare(mine, layer.reference(case), tol)
    result = LayerResult(layer.name, "AGREE", checks, convention=convention)
    if all(c.passed for c in checks):
        if unwritten:
            result.verdict = "NOT WRITTEN"
            result.diagnosis = {"code": "not-written", "message": f"{unwritten} is a skeleton; the rest agrees"}
        return result
    result.verdict = "MISMATCH"
    for code, message in layer.bugs.items():
        buggy = layer.reference(case, bug=code)
        if buggy is not None and reproduces(mine, buggy, tol):
            result.diagnosis = {"code": code, "message": message}
            return result
    wrong = next(c for c in checks if not c.passed)
    result.diagnosis = {
        "code": "unexplained",
        "message": f"no known {layer.name} bug reproduces your numbers; {wrong.name} differs from torch"
        + (f", {wrong.detail}" if wrong.detail else ""),
    }
    return result


def forward_backward(
    student: Student,
    forward: str,
    backward: str,
    inputs: tuple,
    dout,
    grads: tuple[str, ...],
    shapes: dict | None = None,
    output: str = "out",
) -> dict:
    """The usual pair: ``forward(*inputs)`` → (out, cache), then - when written - ``backward(dout, cache)`` →
    the gradients named ``grads``; a gradient named in ``shapes`` is read in its parameter's shape.  ``output``
    names the forward's result (``h`` for a recurrent layer)."""
    out, cache = student.call(
        forward, *(a.copy() if hasattr(a, "copy") else a for a in inputs), returns=2, what=f"{output}, cache"
    )
    got = student.optional(backward, dout.copy(), cache, returns=len(grads), what=", ".join(grads))
    if got is None:
        return {output: out}
    got = got if len(grads) > 1 else (got,)
    shapes = shapes or {}
    return {output: out, **{n: as_shape(g, shapes[n]) if n in shapes else g for n, g in zip(grads, got)}}


def torch_inputs(*arrays):
    """float64 tensors that autograd differentiates."""
    import torch

    return [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]


def grads(output, inputs, upstream) -> list[np.ndarray]:
    """d(Σ upstream·output)/d(each input): the learner's backward(dout) as autograd computes it."""
    import torch

    found = torch.autograd.grad(output, inputs, torch.tensor(upstream), allow_unused=True)
    return [np.zeros(tuple(i.shape)) if g is None else g.detach().numpy() for g, i in zip(found, inputs)]
