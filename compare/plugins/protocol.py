"""The protocol: the adapter base every convention derives from, the registry of conventions, and
the rules for calling someone else's code (errors naming the user's own ``file:line``, read-only
inputs, gradient checks).  docs/plugins.md is the user's guide; ``compare/plugins/conventions/``
holds one module per convention."""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

import manual
from compare import architecture
from compare.config import ModelSpec
from compare.errors import SIGNALS, ConfigError, StepAbandoned
from compare.supervisor import BEACON

# how --fd names a wrong hand-written side: our twin by its role, anyone else's code as the plug-in
WRONG_VERDICT = {"manual": "MANUAL WRONG"}


class PluginError(ConfigError):
    """A plug-in that cannot be driven: one line naming what and where (exit 2); ``cause`` keeps
    the plug-in's own exception for ``--traceback``."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


# --- calling someone else's code ------------------------------------------------------------
def where(exc: BaseException, files: tuple[str, ...] = ()) -> str:
    """``file:line`` of the deepest frame in the user's own code: outside this project's packages, the
    standard library and site-packages (the code a factory imports counts, not only the factory's
    file); else the deepest frame in ``files``; else the deepest frame outside this project."""
    frames = traceback.extract_tb(exc.__traceback__)
    resolved = [(f, str(Path(f.filename).resolve())) for f in frames]
    theirs = [f for f, path in resolved if user_code(path)]
    if not theirs:
        theirs = [f for f, path in resolved if files and path in files]
    if not theirs:
        theirs = [f for f, path in resolved if not path.startswith(PROJECT_DIRS)]
    if not theirs:
        return "?"
    return f"{theirs[-1].filename}:{theirs[-1].lineno}"


PROJECT_DIRS = tuple(str(Path(__file__).resolve().parents[2] / d) + "/" for d in ("compare", "manual", "torch_impl"))
LIBRARY_DIRS = tuple({str(Path(sysconfig.get_paths()[k]).resolve()) + "/" for k in ("stdlib", "platstdlib")})


def user_code(path: str) -> bool:
    """A file of the user's: not ours, not the standard library's, not an installed package's."""
    return not (
        path.startswith(PROJECT_DIRS)
        or path.startswith(LIBRARY_DIRS)
        or "site-packages" in path
        or "dist-packages" in path
        or path.startswith("<")
        or "/<frozen " in path
        or "importlib" in path
    )


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_learner(doing: str, fn, *args, files: tuple[str, ...] = (), **kwargs):
    """The one door into learner code (a plug-in, an update rule, a factory, a layer function): the
    supervisor is told what runs (``doing``, e.g. "plug-in x.make: backward"), and anything it raises
    becomes one line naming ``doing`` and the learner's own file:line - so do a ``sys.exit``, a
    ``KeyboardInterrupt`` it raised itself (not a real Ctrl-C), a stray ``GeneratorExit`` and any other
    ``BaseException``: the judge's exit code is never the learner's.  The judge's own stops
    (``StepAbandoned``, a real Ctrl-C) pass through."""
    seen = SIGNALS.count
    BEACON.enter(doing)
    try:
        return fn(*args, **kwargs)
    except (MemoryError, PluginError, StepAbandoned):
        raise
    except KeyboardInterrupt as e:
        if SIGNALS.count != seen:  # a real interrupt arrived while the plug-in ran
            raise
        raise PluginError(
            f"{doing} raised KeyboardInterrupt itself at {where(e, files)} (no Ctrl-C was pressed); "
            "a plug-in must return or raise an Exception",
            e,
        ) from None
    except Exception as e:
        if isinstance(e, ValueError) and "read-only" in str(e):
            raise PluginError(
                f"{doing} writes into the judge's batch at {where(e, files)} (inputs and labels are "
                "read-only): copy it first (x = x.copy()) or write into a new array",
                e,
            ) from None
        raise PluginError(f"{doing} raised {short(e)} at {where(e, files)}", e) from None
    except BaseException as e:  # SystemExit, GeneratorExit, a BaseException of its own
        if isinstance(e, SystemExit):
            what = f"called sys.exit({e.code!r})"
        else:
            what = f"raised {type(e).__name__} (a BaseException)"
        raise PluginError(
            f"{doing} {what} at {where(e, files)}; a plug-in must return or raise an Exception, "
            "never end the judge's process",
            e,
        ) from None
    finally:
        BEACON.leave()


# --- the protocol ---------------------------------------------------------------------------
@dataclass
class Slot:
    """One parameter: torch's name and shape ↔ the plug-in's name, shape and layout."""

    name: str  # torch name, e.g. layer1.weight
    shape: tuple[int, ...]  # torch shape, e.g. (128, 784)
    native: str  # the plug-in's name, e.g. W1
    native_shape: tuple[int, ...]  # e.g. (784, 128)
    layout: str  # "same", "transposed" or "reshaped"
    get: Callable[[], np.ndarray]
    set: Callable[[np.ndarray], None]

    def to_torch(self, a: np.ndarray) -> np.ndarray:
        """The plug-in's array (or gradient) seen in torch's layout: a view, never a copy."""
        if self.layout == "transposed":
            return a.T
        if self.layout == "reshaped":
            return a.reshape(self.shape) if a.size == int(np.prod(self.shape)) else a.reshape(-1)
        return a

    def from_torch(self, a: np.ndarray, dtype) -> np.ndarray:
        a = np.asarray(a, dtype=dtype)
        if self.layout == "transposed":
            return np.ascontiguousarray(a.T)
        return a.reshape(self.native_shape).copy()

    def native_index(self, index: tuple[int, ...]) -> tuple[int, ...]:
        if self.layout == "transposed":
            return tuple(reversed(index))
        if self.layout == "reshaped":
            return tuple(
                int(i) for i in np.unravel_index(int(np.ravel_multi_index(index, self.shape)), self.native_shape)
            )
        return index

    def describe(self) -> str:
        how = {"same": "same layout", "transposed": "transposed", "reshaped": "reshaped"}[self.layout]
        return f"{self.native} {self.native_shape} ↔ {self.name} {self.shape}, {how}"


class Gradients(NamedTuple):
    """What one backward of a plug-in gave: its loss, its logits (None when its API gives none), every
    gradient in torch's layout (None where it gave none) and the shapes it gave them in."""

    loss: float
    logits: np.ndarray | None
    grads: dict
    native_shapes: dict


SLOT_WORDS = {"norm": "normalization", "dropout": "dropout"}


class Implementation:
    """Base of every adapter: the judge's only door into a hand-written implementation.

    A convention is one subclass in its own module under ``compare/plugins/conventions/``, decorated
    with ``@register``: ``name`` (what ``--convention`` calls it), ``needs`` (what an object must have,
    for the error when nothing matches), ``priority`` (lower is tried first) and ``matches(obj)``
    (does a factory's object follow it), plus ``_slots``, ``_forward`` and ``_backward``."""

    name = convention = "?"
    needs = ""
    priority = 50
    aliases: dict[str, str] = {}  # --manual NAME → "module:factory" this convention provides

    @classmethod
    def matches(cls, obj) -> bool:
        return False

    @classmethod
    def layer_sizes(cls, obj) -> list[int]:
        """[in, hidden…, out] of an object of this convention, read from its parameters (for the API's
        ``check_gradients(obj)``, which has no spec to go by)."""
        raise PluginError(
            f"the {cls.name} convention cannot read layer sizes from a {type(obj).__name__}; give spec=ModelSpec(...)"
        )

    layer_slots: tuple[str, ...] = ()  # the layer slots beyond affine and activation it has ("norm", "dropout")

    def __init__(self, obj, spec: ModelSpec, dtype, *, label: str, target: str, files: tuple[str, ...] = ()):
        self.obj, self.spec, self.dtype = obj, spec, np.dtype(dtype)
        self.label, self.target, self.files = label, target, files
        self.wrong_verdict = WRONG_VERDICT.get(target, "PLUG-IN WRONG")
        self.sizes = [spec.in_features, *spec.hidden, spec.out_features]
        wanted = sorted({layer.kind.slot for layer in spec.layers} - {"affine", "activation"} - set(self.layer_slots))
        if wanted:
            raise PluginError(
                f"{label}: the {self.name} convention has no {' or '.join(SLOT_WORDS[w] for w in wanted)} layers "
                f"(docs/plugins.md; {', '.join(a.name for a in adapters() if set(wanted) <= set(a.layer_slots))} "
                f"have them); judge it without --{' and --'.join(wanted)}"
            )
        try:
            self.slots: list[Slot] = self._slots()
        except PluginError as e:
            missing_norm = spec.norm != "none" and "parameter norm" in str(e) and "is missing" in str(e)
            hint = (
                "its parameters have no normalization layer: judge it without --norm"
                if missing_norm
                else self.sizes_hint(obj, spec)
            )
            if hint and ("is missing" in str(e) or "extra parameter" in str(e)):
                raise PluginError(f"{e}; {hint}", e.cause) from None
            raise
        self.params: dict[str, manual.Parameter] = {}
        self.bound: dict[str, object] = {}
        self.penalty = self.run_penalty = manual.WeightPenalty()  # set by load()

    @classmethod
    def sizes_hint(cls, obj, spec: ModelSpec) -> str | None:
        """What the object's own parameters say its layers are, and the flag that judges it as it is."""
        try:
            sizes = [int(v) for v in cls.layer_sizes(obj)]
        except Exception:
            return None
        if len(sizes) < 2:
            return None
        hidden = ",".join(map(str, sizes[1:-1])) or "none"
        out = (
            f" (its output layer has {sizes[-1]} units where the data has {spec.out_features} classes: check the "
            "sizes your factory passes on)"
            if sizes[-1] != spec.out_features
            else ""
        )
        return f"its parameters say {' → '.join(map(str, sizes))}: judge it with --hidden {hidden}{out}"

    # -- what each adapter supplies
    def _slots(self) -> list[Slot]:
        raise NotImplementedError

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray | None, dict]:
        """(loss, logits or None, {torch name: gradient in the plug-in's layout, or None})."""
        raise NotImplementedError

    # -- the protocol
    def expected_slots(self) -> list[tuple[str, tuple[int, ...]]]:
        """Torch's names and shapes of every parameter the spec has (``compare.architecture``)."""
        return [(e.name, e.shape) for e in architecture.parameters(self.spec)]

    # -- layers with a mode, running statistics and masks (batchnorm, dropout): what a convention that
    # has them supplies; one that has none refuses a spec that needs them, in one line
    def train(self, mode: bool) -> None:
        """Training mode (batch statistics, dropout) or evaluation mode (running statistics, none)."""
        if self.spec.stochastic:
            raise PluginError(
                f"{self.label}: the {self.name} convention has no training/evaluation mode, and "
                f"{self.spec.describe()} needs one"
            )

    def buffers(self) -> dict[str, np.ndarray]:
        """The running statistics, in torch's names and layout (copies)."""
        return {}

    def load_buffers(self, state: dict[str, np.ndarray]) -> None:
        if architecture.buffers(self.spec):
            raise PluginError(
                f"{self.label}: the {self.name} convention holds no running statistics, and "
                f"{self.spec.describe()} has them"
            )

    def feed_masks(self, masks: dict[str, np.ndarray]) -> None:
        """The keep-masks of the next training forward (``compare.architecture.dropout``), one per dropout
        layer: the judge's, so the reference uses the same ones."""
        if masks:
            raise PluginError(
                f"{self.label}: the {self.name} convention cannot take the judge's dropout masks, and "
                f"{self.spec.describe()} has dropout"
            )

    def call(self, what: str, fn, *args, **kwargs):
        """Run plug-in code (``call_learner``): its errors name the plug-in and its own ``file:line``."""
        return call_learner(f"{self.label}: {what}", fn, *args, files=self.files, **kwargs)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """The harness's weights (torch layout) into the plug-in's own arrays, in its layout and the
        run's dtype; ``params`` then views them.  Running statistics in ``state`` go to ``load_buffers``."""
        names = [s.name for s in self.slots]
        buffers = {e.name for e in architecture.buffers(self.spec)}
        if set(state) - buffers != set(names):
            raise PluginError(
                f"{self.label}: parameters {sorted(names)} do not match the spec's {sorted(set(state) - buffers)}"
            )
        if buffers & set(state):
            self.load_buffers({k: v for k, v in state.items() if k in buffers})
        state = {k: v for k, v in state.items() if k not in buffers}
        for slot in self.slots:
            current = slot.get()
            if tuple(np.shape(current)) != slot.native_shape:
                raise PluginError(
                    f"{self.label}: {slot.native} has shape {tuple(np.shape(current))}, expected "
                    f"{slot.native_shape} for {slot.name} {slot.shape} ({self.spec.describe()})"
                )
            slot.set(slot.from_torch(state[slot.name], self.dtype))
        self._bind()

    def _bind(self) -> None:
        for slot in self.slots:
            view = slot.to_torch(slot.get())
            if slot.name in self.params:
                self.params[slot.name].data = view
            else:
                self.params[slot.name] = manual.Parameter(view)
        self.bound = {slot.name: slot.get() for slot in self.slots}

    def forward(self, x: np.ndarray) -> np.ndarray:
        logits = self.call("forward", self._forward, read_only(x))
        return self._check_logits(logits, len(x))

    def _check_logits(self, logits, n: int) -> np.ndarray:
        logits = np.asarray(logits)
        want = (n, self.spec.out_features)
        if logits.shape != want:
            raise PluginError(
                f"{self.label}: the forward gave logits of shape {logits.shape}, expected {want} (batch, classes)"
            )
        return logits

    def raw_gradients(self, x: np.ndarray, y: np.ndarray) -> Gradients:
        """Loss, logits and {name: gradient in torch layout or None, possibly mis-shaped} - for the judge's
        gradient proof, which diagnoses missing and mis-shaped gradients instead of refusing them."""
        loss, logits, grads = self.call("backward", self._backward, read_only(x), read_only(y))
        self.check_bound()
        if logits is not None:
            logits = self._check_logits(logits, len(x))
        loss = self._check_loss(loss)
        out, native_shapes = {}, {}
        for slot in self.slots:
            g = grads.get(slot.name)
            if g is not None:
                native_shapes[slot.name] = tuple(np.shape(g))
                try:
                    g = np.asarray(g)
                except Exception:
                    g = np.asarray(g, dtype=object)
                if g.dtype.kind not in "fiu":
                    raise PluginError(
                        f"{self.label}: gradient of {slot.native} ({slot.name}) is a "
                        f"{type(grads.get(slot.name)).__name__} of {g.dtype}, not an array of numbers"
                    )
                if g.shape != slot.native_shape and squeezed(g.shape) == squeezed(slot.native_shape):
                    g = g.reshape(
                        slot.native_shape
                    )  # (1, out) for (out,): the same numbers, a layout (docs/plugins.md)
            out[slot.name] = None if g is None else slot.to_torch(g)
        if self.penalty:  # a plug-in that does not regularize itself: the judge adds the term
            weights = [self.params[n].data for n in self.weight_names]
            loss += self.penalty.forward(weights)
            for name, g in zip(self.weight_names, self.penalty.backward(weights)):
                if out.get(name) is not None and out[name].shape == g.shape:
                    out[name] = out[name] + g
        return Gradients(loss, logits, out, native_shapes)

    @property
    def weight_names(self) -> list[str]:
        """The parameters the run's L2/L1 penalises (their role says, ``compare.architecture``)."""
        names = {s.name for s in self.slots}
        return [n for n in architecture.penalised(self.spec) if n in names]

    def _check_loss(self, loss) -> float:
        """The reported loss must be one number: the batch's mean (a per-sample vector is refused, never
        read as its first entry)."""
        try:
            value = np.asarray(loss, dtype=np.float64)
        except (TypeError, ValueError):
            raise PluginError(f"{self.label}: the loss is a {type(loss).__name__}, not a number") from None
        if value.size != 1:
            raise PluginError(
                f"{self.label}: the loss has shape {value.shape}, not a scalar: return the mean "
                "over the batch (e.g. losses.mean()), not one loss per sample"
            )
        return float(value.reshape(()))

    def check_bound(self) -> None:
        """The plug-in still computes with the arrays the judge updates: the same objects the views were
        made from.  A plug-in that replaces a parameter (``params['W1'] = params['W1'].astype(…)``, new
        parameter objects per call) would train nothing while the judge's optimizer moved copies."""
        bound = self.bound
        for slot in self.slots:
            now = slot.get()
            if now is not bound.get(slot.name, now):
                at = self.rebinding_site(slot)
                raise PluginError(
                    f"{self.label}: your code replaced {slot.native} with a new array"
                    f"{' at ' + at if at else ' during the step'}: the judge updates the array it "
                    "was given in place, so update it in place (W -= …, W[...] = …) or keep the "
                    "same array object"
                )

    def rebinding_site(self, slot) -> str | None:
        return None

    def compute_gradients(self, x: np.ndarray, y: np.ndarray):
        """Training's path: loss and logits of the batch; every ``params[name].grad`` set (torch layout).
        Every call checks every gradient given: an array of numbers, of the right shape, finite."""
        loss, logits, grads, native_shapes = self.raw_gradients(x, y)
        if logits is None:  # cs231n's loss(X, y) and sklearn's _backprop give no logits
            logits = self.forward(x)
        # a run that diverged (non-finite loss or logits) is the loss check's to report (exit 3); only
        # a NaN/inf gradient of finite logits and loss is the plug-in's fault
        self.validate(
            grads, native_shapes, finite=math.isfinite(loss) and bool(np.isfinite(np.add.reduce(logits, axis=None)))
        )
        for name, g in grads.items():
            self.params[name].grad = g
        return loss, logits

    def validate(self, grads: dict, native_shapes: dict, finite: bool = True) -> None:
        """A parameter without a gradient is left alone by the optimizer (as torch's are); one of the
        wrong shape or with NaN/inf cannot be trained."""
        for slot in self.slots:
            g = grads.get(slot.name)
            if g is None:
                continue
            if g.shape != slot.shape:
                raise PluginError(
                    f"{self.label}: gradient of {slot.native} has shape "
                    f"{native_shapes.get(slot.name, g.shape)}, "
                    f"expected {slot.native_shape} ({slot.name} {slot.shape})"
                )
            if finite:
                check_finite(self.label, slot, g)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and running statistics, as torch's ``state_dict`` (checkpoints hold both)."""
        return {**{name: np.array(p.data, copy=True) for name, p in self.params.items()}, **self.buffers()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name, p in self.params.items():
            if name not in state or np.shape(state[name]) != p.data.shape:
                raise ValueError(f"{name}: missing or of another shape in the checkpoint")
            p.data[...] = state[name]
        buffers = list(self.buffers())  # those the implementation keeps
        if buffers:
            missing = [n for n in buffers if n not in state]
            if missing:
                raise ValueError(f"{missing[0]}: missing in the checkpoint")
            self.load_buffers({n: state[n] for n in buffers})

    def mapping(self) -> list[str]:
        return [s.describe() for s in self.slots]

    @property
    def plain(self) -> bool:
        """Torch's names and layout already: nothing to map."""
        return all(s.layout == "same" and s.native == s.name for s in self.slots)

    def take_reg(self, l2: float) -> bool:
        """Give the run's L2 λ to the learner's own code when it has a place for it (an adapter may know
        more: CS231n's per-call ``loss(X, y, reg)``): an object's ``reg`` attribute (CS231n's ``self.reg``),
        set by the judge.  True when the learner's regularization now runs."""
        current = getattr(self.obj, "reg", None)
        if isinstance(current, (int, float)) and not isinstance(current, bool):
            try:
                self.obj.reg = l2
            except Exception:
                return False
            self.reg_route = "its reg attribute, set by the judge"
            return True
        return False

    def header(self) -> str:
        """One line naming the implementation (the only line a default run gains), and how the run's L2
        reaches the learner's own regularization - or that it does not."""
        shown = self.target
        if self.target in aliases():
            shown = f"{type(self.obj).__module__.split('.')[0]}.{type(self.obj).__name__}"
        what = f"implementation: {self.label} = {shown} ({self.convention} convention"
        what += ", torch names and layout)" if self.plain else ")"
        if self.run_penalty.l2:
            route = getattr(self, "reg_route", None)
            convention = getattr(self, "l2_convention", None)
            what += (
                f"; L2 λ reaches your code through {route}" + (f", as {convention}" if convention else "")
                if route
                else "; your code takes no L2 λ (no reg argument or attribute): its own regularization is not "
                "run, the judge adds ½·λ·ΣW² to its loss and gradients"
            )
        return what

    def mapping_lines(self) -> list[str]:
        return [] if self.plain else ["  " + m for m in self.mapping()]


def squeezed(shape) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def read_only(a):
    """A read-only view of the judge's array (no copy): a plug-in that writes into its input gets an
    error instead of silently changing the batch, the judge's test set or what autograd sees."""
    if isinstance(a, np.ndarray) and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def check_finite(label: str, slot: Slot, g: np.ndarray) -> None:
    if g.dtype.kind == "f":
        flat = g.reshape(-1)
        if math.isfinite(np.dot(flat, flat)):  # finite Σg²: no NaN/inf in g (one BLAS pass, no array made)
            return
    bad = np.flatnonzero(~np.isfinite(g))
    if not bad.size:  # Σg² overflowed (or integers): every entry is finite
        return
    if bad.size:
        idx = tuple(int(i) for i in np.unravel_index(int(bad[0]), g.shape))
        raise PluginError(
            f"{label}: gradient of {slot.native} ({slot.name}) holds {g.reshape(-1)[bad[0]]} at "
            f"{slot.name}{list(idx)} ({bad.size} non-finite entries)"
        )


def accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def positional_count(fn) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 99
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def chain_of(shapes: list[tuple[int, ...]]) -> list[int]:
    """Layer sizes from weight shapes stored (in, out) as the NumPy conventions keep them, or torch's
    (out, in) when only that chains up."""
    if all(a[1] == b[0] for a, b in zip(shapes, shapes[1:])):
        return [shapes[0][0]] + [s[1] for s in shapes]
    return [shapes[0][1]] + [s[0] for s in shapes]


def check_names(label: str, expected: list[str], found: list[str]) -> None:
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    if missing:
        raise PluginError(
            f"{label}: parameter {missing[0]} is missing (found {', '.join(found) or 'none'}; "
            f"the spec needs {', '.join(expected)})"
        )
    if extra:
        raise PluginError(
            f"{label}: extra parameter {extra[0]} that the spec has no place for (expected {', '.join(expected)})"
        )


def weight_layout(shape: tuple[int, ...], fan_in: int, fan_out: int) -> tuple[tuple[int, int], str]:
    """How a weight is stored: (in, out) as these conventions do (transposed to torch's), or torch's own
    (out, in) when the shape says so without ambiguity (not square).  Any other shape keeps the
    convention's (in, out), and loading then names both shapes."""
    if tuple(shape) == (fan_out, fan_in) and fan_in != fan_out:
        return (fan_out, fan_in), "same"
    return (fan_in, fan_out), "transposed"


def bias_layout(shape: tuple[int, ...], fan_out: int, default: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    """A bias stored as (out,), a (1, out) row or an (out, 1) column: each is mapped, none refused."""
    shape = tuple(shape)
    if shape not in ((fan_out,), (1, fan_out), (fan_out, 1)):
        shape = default
    return shape, "same" if shape == (fan_out,) else "reshaped"


# --- the registry ---------------------------------------------------------------------------
REGISTRY: dict[str, type[Implementation]] = {}
_imported: set[str] = set()


def register(cls: type[Implementation]) -> type[Implementation]:
    """Class decorator: make a convention known to detection, ``--convention`` and the docs."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(
            f"two conventions are called {cls.name!r}: {REGISTRY[cls.name].__module__} and {cls.__module__}"
        )
    cls.convention = cls.name
    REGISTRY[cls.name] = cls
    return cls


def discover() -> None:
    """Import every module of ``compare.plugins.conventions`` (each registers its adapter)."""
    from compare.plugins import conventions

    for info in pkgutil.iter_modules(conventions.__path__):
        name = f"{conventions.__name__}.{info.name}"
        if name not in _imported:
            importlib.import_module(name)
            _imported.add(name)


def adapters() -> list[type[Implementation]]:
    """Every registered convention, in the order detection tries them."""
    discover()
    return sorted(REGISTRY.values(), key=lambda c: (c.priority, c.name))


def convention_names() -> tuple[str, ...]:
    return tuple(c.name for c in adapters())


def aliases() -> dict[str, str]:
    """``--manual`` short names (manual, sklearn) → the factories the conventions provide."""
    return {k: v for c in adapters() for k, v in c.aliases.items()}
