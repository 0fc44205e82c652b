"""The plug-in protocol: how the judge talks to ANY hand-written implementation.

The judge (gradcheck, compare, train, overfit) never touches an implementation directly; it
goes through an ``Implementation`` adapter, which offers exactly four things:

* ``params``: torch's names (``layer1.weight`` …) → a ``manual.Parameter`` whose ``data`` is a
  *view* of the implementation's own array in torch's ``(out, in)`` layout, so an optimizer
  from ``manual/optim.py`` updates the implementation's arrays in place;
* ``load_state(state)``: put the harness's initial weights (torch layout) into the
  implementation's own arrays, whatever init it did;
* ``forward(x)``: logits ``(N, classes)``;
* ``compute_gradients(x, y)``: the mean softmax cross-entropy of the batch, its logits, and every
  parameter's gradient stored in ``params[name].grad`` (torch layout).

One adapter per *convention* maps names and layouts explicitly and says so (``mapping()``):

* ``ours``: the interface of ``manual.SimpleNet`` (``named_parameters()`` of objects with
  ``.data``/``.grad``, ``__call__(x)`` → logits, ``backward(dL/dlogits)``, ``zero_grad()``), torch
  names and layout; an optional ``criterion`` attribute (``forward(logits, y)`` → loss,
  ``backward()`` → dL/dlogits), else the harness's NumPy softmax cross-entropy;
* ``cs231n``: a ``params`` dict ``W1, b1, …`` with W of shape (in, out) and ``loss(X, y)`` →
  ``(loss, grads)`` (scores when ``y`` is None);
* ``layers``: a list of layer objects (or an object with a ``layers`` list) in the Neural Networks
  from Scratch style: dense layers with ``weights`` (in, out) and ``biases`` (1, out),
  ``forward(inputs)`` setting ``.output`` and ``backward(dvalues)`` setting ``.dweights``,
  ``.dbiases``, ``.dinputs``; a trailing loss object of that book's style is used, else the
  harness supplies the softmax cross-entropy and its gradient (p − onehot)/N;
* ``sklearn``: scikit-learn's ``MLPClassifier`` through its own ``_forward_pass`` and ``_backprop``.

Our own twin (``--manual manual``, the default) is loaded by the same loader through the ``ours``
adapter: the judge has no other way in.  docs/plugins.md is the user's guide.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import manual
from compare.config import ModelSpec
from compare.errors import SIGNALS, ConfigError

CONVENTIONS = ("ours", "cs231n", "layers", "sklearn")
ALIASES = {"manual": "compare.plugins:our_twin", "sklearn": "compare.plugins:sklearn_mlp"}
DEFAULT_TARGET = "manual"
# how --fd names a wrong hand-written side: our twin by its role, anyone else's code as the plug-in
WRONG_VERDICT = {"manual": "MANUAL WRONG"}


class PluginError(ConfigError):
    """A plug-in that cannot be driven: one line naming what and where (exit 2); ``cause`` keeps
    the plug-in's own exception for ``--traceback``."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


# --- the factories behind the aliases ---------------------------------------------------------
def our_twin(sizes, activation="relu", dtype=np.float32, output_activation="none") -> manual.SimpleNet:
    """The hand-written twin of this project, ``manual.SimpleNet``."""
    return manual.SimpleNet(sizes[0], tuple(sizes[1:-1]), sizes[-1], activation, output_activation, dtype=dtype,
                            rng=np.random.default_rng(0))


SKLEARN_ACTIVATIONS = {"relu": "relu", "sigmoid": "logistic", "tanh": "tanh"}


def sklearn_mlp(sizes, activation="relu", dtype=np.float64):
    """scikit-learn's ``MLPClassifier`` with ``alpha=0`` (no L2 term: the loss is the plain mean
    cross-entropy) and its coefficients allocated for ``sizes``; the harness overwrites them."""
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise PluginError("--manual sklearn needs scikit-learn: pip install scikit-learn "
                          "(or pip install -e '.[dev]' in this repository)") from None
    est = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation=SKLEARN_ACTIVATIONS[activation],
                        alpha=0.0, solver="sgd")
    est.n_layers_, est.n_outputs_, est.out_activation_ = len(sizes), sizes[-1], "softmax"
    est.n_features_in_ = sizes[0]
    est.coefs_ = [np.zeros((a, b), dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    est.intercepts_ = [np.zeros(b, dtype=dtype) for b in sizes[1:]]
    return est


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


PROJECT_DIRS = tuple(str(Path(__file__).resolve().parents[1] / d) + "/" for d in ("compare", "manual", "torch_impl"))
LIBRARY_DIRS = tuple({str(Path(sysconfig.get_paths()[k]).resolve()) + "/" for k in ("stdlib", "platstdlib")})


def user_code(path: str) -> bool:
    """A file of the user's: not ours, not the standard library's, not an installed package's."""
    return not (path.startswith(PROJECT_DIRS) or path.startswith(LIBRARY_DIRS) or "site-packages" in path
                or "dist-packages" in path or path.startswith("<") or "/<frozen " in path or "importlib" in path)


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the protocol ---------------------------------------------------------------------------
@dataclass
class Slot:
    """One parameter: torch's name and shape ↔ the plug-in's name, shape and layout."""

    name: str                       # torch name, e.g. layer1.weight
    shape: tuple[int, ...]          # torch shape, e.g. (128, 784)
    native: str                     # the plug-in's name, e.g. W1
    native_shape: tuple[int, ...]   # e.g. (784, 128)
    layout: str                     # "same", "transposed" or "reshaped"
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
            return tuple(int(i) for i in np.unravel_index(int(np.ravel_multi_index(index, self.shape)),
                                                          self.native_shape))
        return index

    def describe(self) -> str:
        how = {"same": "same layout", "transposed": "transposed", "reshaped": "reshaped"}[self.layout]
        return f"{self.native} {self.native_shape} ↔ {self.name} {self.shape}, {how}"


class Implementation:
    """Base of every adapter: the judge's only door into a hand-written implementation."""

    convention = "?"

    def __init__(self, obj, spec: ModelSpec, dtype, *, label: str, target: str, files: tuple[str, ...] = ()):
        self.obj, self.spec, self.dtype = obj, spec, np.dtype(dtype)
        self.label, self.target, self.files = label, target, files
        self.wrong_verdict = WRONG_VERDICT.get(target, "PLUG-IN WRONG")
        self.sizes = [spec.in_features, *spec.hidden, spec.out_features]
        self.slots: list[Slot] = self._slots()
        self.params: dict[str, manual.Parameter] = {}
        self.bound: dict[str, object] = {}
        self.penalty = self.run_penalty = manual.WeightPenalty()      # set by load()

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
        """Torch's names and shapes of every parameter the spec has."""
        out = []
        for k, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            out += [(f"layer{k}.weight", (fan_out, fan_in)), (f"layer{k}.bias", (fan_out,))]
        return out

    def call(self, what: str, fn, *args, **kwargs):
        """Run plug-in code; anything it raises becomes one line with its own file:line, and so do a
        ``sys.exit``, a ``KeyboardInterrupt`` it raised itself (not a real Ctrl-C) and a stray
        ``GeneratorExit``: the judge's exit code is never the plug-in's."""
        seen = SIGNALS.count
        try:
            return fn(*args, **kwargs)
        except (MemoryError, PluginError):
            raise
        except KeyboardInterrupt as e:
            if SIGNALS.count != seen:          # a real interrupt arrived while the plug-in ran
                raise
            raise PluginError(f"{self.label}: {what} raised KeyboardInterrupt itself at {where(e, self.files)} "
                              "(no Ctrl-C was pressed); a plug-in must return or raise an Exception", e) from None
        except (SystemExit, GeneratorExit) as e:
            code = f"({e.code!r})" if isinstance(e, SystemExit) else ""
            raise PluginError(f"{self.label}: {what} called {'sys.exit' if code else 'GeneratorExit'}{code} at "
                              f"{where(e, self.files)}; a plug-in must return or raise an Exception, never end "
                              "the judge's process", e) from None
        except Exception as e:
            if isinstance(e, ValueError) and "read-only" in str(e):
                raise PluginError(f"{self.label}: {what} writes into the judge's batch at {where(e, self.files)} "
                                  "(inputs and labels are read-only): copy it first (x = x.copy()) or write "
                                  "into a new array", e) from None
            raise PluginError(f"{self.label}: {what} raised {short(e)} at {where(e, self.files)}", e) from None

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """The harness's weights (torch layout) into the plug-in's own arrays, in its layout and the
        run's dtype; ``params`` then views them."""
        names = [s.name for s in self.slots]
        if set(state) != set(names):
            raise PluginError(f"{self.label}: parameters {sorted(names)} do not match the spec's {sorted(state)}")
        for slot in self.slots:
            current = slot.get()
            if tuple(np.shape(current)) != slot.native_shape:
                raise PluginError(f"{self.label}: {slot.native} has shape {tuple(np.shape(current))}, expected "
                                  f"{slot.native_shape} for {slot.name} {slot.shape} ({self.spec.describe()})")
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
            raise PluginError(f"{self.label}: the forward gave logits of shape {logits.shape}, expected {want} "
                              f"(batch, classes)")
        return logits

    def raw_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray | None, dict]:
        """(loss, logits, {name: gradient in torch layout or None, possibly mis-shaped}) - for the judge's
        gradient proof, which diagnoses missing and mis-shaped gradients instead of refusing them."""
        loss, logits, grads = self.call("backward", self._backward, read_only(x), read_only(y))
        self.check_bound()
        if logits is not None:
            logits = self._check_logits(logits, len(x))
        loss = self._check_loss(loss)
        out, self.native_grad_shapes = {}, {}
        for slot in self.slots:
            g = grads.get(slot.name)
            if g is not None:
                self.native_grad_shapes[slot.name] = tuple(np.shape(g))
                try:
                    g = np.asarray(g)
                except Exception:
                    g = np.asarray(g, dtype=object)
                if g.dtype.kind not in "fiu":
                    raise PluginError(f"{self.label}: gradient of {slot.native} ({slot.name}) is a "
                                      f"{type(grads.get(slot.name)).__name__} of {g.dtype}, not an array of numbers")
            out[slot.name] = None if g is None else slot.to_torch(g)
        if self.penalty:                 # a plug-in that does not regularize itself: the judge adds the term
            weights = [self.params[n].data for n in self.weight_names]
            loss += self.penalty.forward(weights)
            for name, g in zip(self.weight_names, self.penalty.backward(weights)):
                if out.get(name) is not None and out[name].shape == g.shape:
                    out[name] = out[name] + g
        return loss, logits, out

    @property
    def weight_names(self) -> list[str]:
        return [s.name for s in self.slots if s.name.endswith(".weight")]

    def _check_loss(self, loss) -> float:
        """The reported loss must be one number: the batch's mean (a per-sample vector is refused, never
        read as its first entry)."""
        try:
            value = np.asarray(loss, dtype=np.float64)
        except (TypeError, ValueError):
            raise PluginError(f"{self.label}: the loss is a {type(loss).__name__}, not a number") from None
        if value.size != 1:
            raise PluginError(f"{self.label}: the loss has shape {value.shape}, not a scalar: return the mean "
                              "over the batch (e.g. losses.mean()), not one loss per sample")
        return float(value.reshape(()))

    def check_bound(self) -> None:
        """The plug-in still computes with the arrays the judge updates: the same objects the views were
        made from.  A plug-in that replaces a parameter (``params['W1'] = params['W1'].astype(…)``, new
        parameter objects per call) would train nothing while the judge's optimizer moved copies."""
        for slot in self.slots:
            if slot.get() is not self.bound.get(slot.name, slot.get()):
                at = self.rebinding_site(slot)
                raise PluginError(f"{self.label}: your code replaced {slot.native} with a new array"
                                  f"{' at ' + at if at else ' during the step'}: the judge updates the array it "
                                  "was given in place, so update it in place (W -= …, W[...] = …) or keep the "
                                  "same array object")

    def rebinding_site(self, slot) -> str | None:
        return None

    def compute_gradients(self, x: np.ndarray, y: np.ndarray):
        """Training's path: loss and logits of the batch; every ``params[name].grad`` set (torch layout).
        Every call checks every gradient given: an array of numbers, of the right shape, finite."""
        loss, logits, grads = self.raw_gradients(x, y)
        if logits is None:              # cs231n's loss(X, y) and sklearn's _backprop give no logits
            logits = self.forward(x)
        # a run that diverged (non-finite loss or logits) is the loss check's to report (exit 3); only
        # a NaN/inf gradient of finite logits and loss is the plug-in's fault
        self.validate(grads, finite=bool(np.isfinite(loss) and np.isfinite(np.add.reduce(logits, axis=None))))
        for name, g in grads.items():
            self.params[name].grad = g
        return loss, logits

    def validate(self, grads: dict, finite: bool = True) -> None:
        """A parameter without a gradient is left alone by the optimizer (as torch's are); one of the
        wrong shape or with NaN/inf cannot be trained."""
        for slot in self.slots:
            g = grads.get(slot.name)
            if g is None:
                continue
            if g.shape != slot.shape:
                raise PluginError(f"{self.label}: gradient of {slot.native} has shape "
                                  f"{self.native_grad_shapes.get(slot.name, g.shape)}, "
                                  f"expected {slot.native_shape} ({slot.name} {slot.shape})")
            if finite:
                check_finite(self.label, slot, g)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: np.array(p.data, copy=True) for name, p in self.params.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name, p in self.params.items():
            if name not in state or np.shape(state[name]) != p.data.shape:
                raise ValueError(f"{name}: missing or of another shape in the checkpoint")
            p.data[...] = state[name]

    def mapping(self) -> list[str]:
        return [s.describe() for s in self.slots]

    @property
    def plain(self) -> bool:
        """Torch's names and layout already: nothing to map."""
        return all(s.layout == "same" and s.native == s.name for s in self.slots)

    def header(self) -> str:
        """One line naming the implementation (the only line a default run gains)."""
        shown = self.target
        if self.target in ALIASES:
            shown = f"{type(self.obj).__module__.split('.')[0]}.{type(self.obj).__name__}"
        what = f"implementation: {self.label} = {shown} ({self.convention} convention"
        return what + (", torch names and layout)" if self.plain else ")")

    def mapping_lines(self) -> list[str]:
        return [] if self.plain else ["  " + m for m in self.mapping()]


def read_only(a):
    """A read-only view of the judge's array (no copy): a plug-in that writes into its input gets an
    error instead of silently changing the batch, the judge's test set or what autograd sees."""
    if isinstance(a, np.ndarray) and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def check_finite(label: str, slot: Slot, g: np.ndarray) -> None:
    flat = g.reshape(-1)
    if g.dtype.kind == "f" and np.isfinite(np.dot(flat, flat)):   # finite Σg²: no NaN/inf in g (one BLAS pass)
        return
    bad = np.flatnonzero(~np.isfinite(g))
    if not bad.size:                                 # Σg² overflowed, every entry is finite
        return
    if bad.size:
        idx = tuple(int(i) for i in np.unravel_index(int(bad[0]), g.shape))
        raise PluginError(f"{label}: gradient of {slot.native} ({slot.name}) holds {g.reshape(-1)[bad[0]]} at "
                          f"{slot.name}{list(idx)} ({bad.size} non-finite entries)")


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


# --- ours -----------------------------------------------------------------------------------
class Ours(Implementation):
    """``manual.SimpleNet``'s interface: torch names and layout, nothing to map."""

    convention = "ours"

    def __init__(self, obj, spec, dtype, **kw):
        self.model = obj
        self.criterion = getattr(obj, "criterion", None) or manual.LOSSES[spec.loss]()
        super().__init__(obj, spec, dtype, **kw)

    def _slots(self):
        if not callable(getattr(self.model, "named_parameters", None)) or not callable(
                getattr(self.model, "backward", None)):
            raise PluginError(f"{self.label}: the ours convention needs named_parameters(), __call__(x) and "
                              f"backward(dL/dlogits); a {type(self.model).__name__} lacks them")
        try:
            own = dict(self.model.named_parameters())
        except Exception as e:
            raise PluginError(f"{self.label}: named_parameters() raised {short(e)} at {where(e, self.files)}", e) from None
        expected = self.expected_slots()
        check_names(self.label, [n for n, _ in expected], list(own))
        slots = []
        for name, shape in expected:
            p = own[name]
            slots.append(Slot(name, shape, name, shape, "same", get=lambda p=p: p.data,
                              set=lambda v, p=p: setattr(p, "data", v)))
        self.own = own
        return slots

    def _bind(self):
        self.params = self.own          # the model's own parameter objects: updates land in place
        self.bound = {slot.name: slot.get() for slot in self.slots}

    def _forward(self, x):
        return self.model(x)

    def _backward(self, x, y):
        self.model.zero_grad()
        logits = self.model(x)
        loss = self.criterion.forward(logits, y)         # docs/plugins.md: forward(logits, y) → loss
        self.model.backward(self.criterion.backward())
        return loss, logits, {name: p.grad for name, p in self.own.items()}

    def check_bound(self) -> None:
        """Also new parameter objects: ``named_parameters()`` must still yield the ones the judge holds."""
        super().check_bound()
        now = dict(self.call("named_parameters()", lambda: list(self.model.named_parameters())))
        for name, p in self.own.items():
            if now.get(name) is not p:
                raise PluginError(f"{self.label}: named_parameters() now yields a new object for {name}: the "
                                  "judge updates the parameter objects it was given in place, so keep them "
                                  "(assign to p.data[...], never a new parameter)")


def check_names(label: str, expected: list[str], found: list[str]) -> None:
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    if missing:
        raise PluginError(f"{label}: parameter {missing[0]} is missing (found {', '.join(found) or 'none'}; "
                          f"the spec needs {', '.join(expected)})")
    if extra:
        raise PluginError(f"{label}: extra parameter {extra[0]} that the spec has no place for "
                          f"(expected {', '.join(expected)})")


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


class WatchedDict(dict):
    """A cs231n ``params`` dict that remembers where each key was last assigned (``file:line``), so a
    plug-in that replaces a parameter during a step is told the line that did it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sites: dict[str, str] = {}

    def __setitem__(self, key, value):
        caller = sys._getframe(1)
        self.sites[key] = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        super().__setitem__(key, value)


# --- cs231n ---------------------------------------------------------------------------------
class CS231n(Implementation):
    """``params`` = {W1, b1, …} with W (in, out); ``loss(X, y)`` → (loss, grads); ``loss(X)`` → scores."""

    convention = "cs231n"

    def _slots(self):
        params = getattr(self.obj, "params", None)
        if not isinstance(params, dict) or not callable(getattr(self.obj, "loss", None)):
            raise PluginError(f"{self.label}: a cs231n model needs a params dict of W1, b1, … and loss(X, y)")
        layers = len(self.sizes) - 1
        expected = [f"{p}{k}" for k in range(1, layers + 1) for p in ("W", "b")]
        check_names(self.label, expected, list(params))
        if not isinstance(params, WatchedDict):     # to name the line that replaces a parameter, if one does
            try:
                self.obj.params = WatchedDict(params)
                params = self.obj.params
            except Exception:                       # a read-only property: its dict as it is (no line named)
                pass
        slots = []
        for k, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            w_shape, w_layout = weight_layout(np.shape(params[f"W{k}"]), fan_in, fan_out)
            b_shape, b_layout = bias_layout(np.shape(params[f"b{k}"]), fan_out, default=(fan_out,))
            for key, name, shape, native_shape, layout in (
                    (f"W{k}", f"layer{k}.weight", (fan_out, fan_in), w_shape, w_layout),
                    (f"b{k}", f"layer{k}.bias", (fan_out,), b_shape, b_layout)):
                slots.append(Slot(name, shape, key, native_shape, layout,
                                  get=lambda key=key: self.obj.params[key],
                                  set=lambda v, key=key: self.obj.params.__setitem__(key, v)))
        return slots

    def rebinding_site(self, slot) -> str | None:
        params = self.obj.params
        return params.sites.get(slot.native) if isinstance(params, WatchedDict) else None

    def _forward(self, x):
        return self.obj.loss(x)

    def _backward(self, x, y):
        result = self.obj.loss(x, y)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise PluginError(f"{self.label}: loss(X, y) must return (loss, grads dict), got {type(result).__name__}")
        loss, grads = result
        by_native = {s.native: s.name for s in self.slots}
        return loss, None, {by_native[k]: v for k, v in grads.items() if k in by_native}


# --- layers (Neural Networks from Scratch) --------------------------------------------------
class Layers(Implementation):
    """A list of layer objects: dense ones (``weights`` (in, out), ``biases`` (1, out)), activations,
    and optionally a trailing loss object of the book's style."""

    convention = "layers"

    def __init__(self, obj, spec, dtype, **kw):
        layers = obj if isinstance(obj, (list, tuple)) else getattr(obj, "layers", None)
        if not isinstance(layers, (list, tuple)):
            raise PluginError(f"{kw['label']}: no dense layer (an object with weights and biases) in the list: a "
                              f"{type(obj).__name__} is neither a list of layers nor has a layers list")
        self.layers = list(layers)
        dense = [i for i, l in enumerate(self.layers) if is_dense(l)]
        if not dense:
            raise PluginError(f"{kw['label']}: no dense layer (an object with weights and biases) in the list")
        self.body, self.head = self.layers[:dense[-1] + 1], self.layers[dense[-1] + 1:]
        self.dense = [self.layers[i] for i in dense]
        self.criterion = None if self.head else manual.LOSSES[spec.loss]()
        super().__init__(obj, spec, dtype, **kw)

    def _slots(self):
        if len(self.dense) != len(self.sizes) - 1:
            raise PluginError(f"{self.label}: {len(self.dense)} dense layers (objects with weights and biases), "
                              f"the spec {self.spec.describe()} needs {len(self.sizes) - 1}")
        slots = []
        for k, (layer, fan_in, fan_out) in enumerate(zip(self.dense, self.sizes[:-1], self.sizes[1:]), start=1):
            i = self.layers.index(layer)
            w_shape, w_layout = weight_layout(np.shape(layer.weights), fan_in, fan_out)
            b_shape, b_layout = bias_layout(np.shape(layer.biases), fan_out, default=(1, fan_out))
            slots.append(Slot(f"layer{k}.weight", (fan_out, fan_in), f"layers[{i}].weights", w_shape, w_layout,
                              get=lambda l=layer: l.weights, set=lambda v, l=layer: setattr(l, "weights", v)))
            slots.append(Slot(f"layer{k}.bias", (fan_out,), f"layers[{i}].biases", b_shape, b_layout,
                              get=lambda l=layer: l.biases, set=lambda v, l=layer: setattr(l, "biases", v)))
        return slots

    @staticmethod
    def _fwd(layer, inputs):
        if positional_count(layer.forward) >= 3:          # the book's later forward(inputs, training)
            layer.forward(inputs, True)
        else:
            layer.forward(inputs)
        return layer.output

    def _forward(self, x):
        out = x
        for layer in self.body:
            out = self._fwd(layer, out)
        return out

    def _backward(self, x, y):
        logits = self._forward(x)
        if self.criterion is not None:
            loss = self.criterion(logits, y)
            d = self.criterion.backward()
        else:
            inp = logits
            for layer in self.head[:-1]:
                inp = self._fwd(layer, inp)
            last = self.head[-1]
            loss = last.calculate(inp, y) if hasattr(last, "calculate") else last.forward(inp, y)
            out = getattr(last, "output", None)
            last.backward(out if out is not None else inp, y)
            d = last.dinputs
            for layer in reversed(self.head[:-1]):
                layer.backward(d)
                d = layer.dinputs
        for layer in reversed(self.body):
            layer.backward(d)
            d = getattr(layer, "dinputs", None)
        grads = {}
        for k, layer in enumerate(self.dense, start=1):
            grads[f"layer{k}.weight"] = getattr(layer, "dweights", None)
            grads[f"layer{k}.bias"] = getattr(layer, "dbiases", None)
        return loss, logits, grads


def is_dense(layer) -> bool:
    return hasattr(layer, "weights") and hasattr(layer, "biases")


# --- scikit-learn ---------------------------------------------------------------------------
class SKLearn(Implementation):
    """``MLPClassifier``: ``coefs_[k]`` (in, out), ``intercepts_[k]`` (out,); its own ``_forward_pass``
    gives the logits (output activation set to identity for that call) and ``_backprop`` the loss
    and gradients (``alpha`` must be 0: the L2 term is no part of the plain cross-entropy)."""

    convention = "sklearn"

    def _slots(self):
        est = self.obj
        if not callable(getattr(est, "_backprop", None)):
            raise PluginError(f"{self.label}: a {type(est).__name__} is not scikit-learn's MLPClassifier")
        if not self.spec.plain:
            raise PluginError(f"{self.label}: MLPClassifier has softmax outputs and the cross-entropy; this run "
                              f"has {self.spec.output_activation} outputs and the {self.spec.loss} loss")
        if getattr(est, "alpha", 0.0) != 0.0:
            raise PluginError(f"{self.label}: MLPClassifier(alpha={est.alpha}) adds an L2 term to the loss; "
                              "use alpha=0 to compare with the plain cross-entropy")
        if not hasattr(est, "coefs_"):
            raise PluginError(f"{self.label}: the MLPClassifier has no coefs_ yet; build it with "
                              "compare.plugins.sklearn_mlp(sizes, activation, dtype) or fit it once")
        layers = len(self.sizes) - 1
        if len(est.coefs_) != layers:
            raise PluginError(f"{self.label}: {len(est.coefs_)} weight matrices in coefs_, the spec "
                              f"{self.spec.describe()} needs {layers}")
        slots = []
        for k, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            slots.append(Slot(f"layer{k + 1}.weight", (fan_out, fan_in), f"coefs_[{k}]", (fan_in, fan_out),
                              "transposed", get=lambda k=k: est.coefs_[k],
                              set=lambda v, k=k: est.coefs_.__setitem__(k, v)))
            slots.append(Slot(f"layer{k + 1}.bias", (fan_out,), f"intercepts_[{k}]", (fan_out,), "same",
                              get=lambda k=k: est.intercepts_[k], set=lambda v, k=k: est.intercepts_.__setitem__(k, v)))
        self.onehot = np.eye(self.sizes[-1], dtype=self.dtype)
        return slots

    def _activations(self, x):
        return [x] + [None] * (self.obj.n_layers_ - 1)

    def _forward(self, x):
        est = self.obj
        saved = est.out_activation_
        est.out_activation_ = "identity"
        try:
            return est._forward_pass(self._activations(x))[-1]
        finally:
            est.out_activation_ = saved

    def _backward(self, x, y):
        est = self.obj
        n = est.n_layers_ - 1
        coef_grads, intercept_grads = [None] * n, [None] * n
        args = [x, self.onehot[y], self._activations(x), [None] * n, coef_grads, intercept_grads]
        if accepts(est._backprop, "sample_weight"):
            args.insert(2, None)
        loss, coef_grads, intercept_grads = est._backprop(*args)
        grads = {}
        for k in range(n):
            grads[f"layer{k + 1}.weight"], grads[f"layer{k + 1}.bias"] = coef_grads[k], intercept_grads[k]
        return loss, None, grads


# --- loading --------------------------------------------------------------------------------
@dataclass
class Factory:
    fn: Callable
    target: str
    label: str
    files: tuple[str, ...]


def resolve_factory(target: str) -> Factory:
    """``sklearn``, ``manual``, ``MODULE:FACTORY`` or ``path/to/file.py:FACTORY`` → the factory."""
    spelled = ALIASES.get(target, target)
    if ":" not in spelled:
        raise PluginError(f"--manual {target!r}: give sklearn, MODULE:FACTORY or path/to/file.py:FACTORY")
    module_part, _, attr = spelled.rpartition(":")
    if not module_part or not attr:
        raise PluginError(f"--manual {target!r}: give sklearn, MODULE:FACTORY or path/to/file.py:FACTORY")
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.is_file():
            raise PluginError(f"--manual {target}: file {path} not found")
        name = "simplenet_plugin_" + re.sub(r"\W", "_", str(path.resolve()))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module          # dataclasses and pickling look their module up by name
        files = (str(path.resolve()),)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise PluginError(f"--manual {target}: importing {path} raised {short(e)} at {where(e, files)}", e) from None
        label = path.stem
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as e:
            if e.name and module_part.startswith(e.name):
                raise PluginError(f"--manual {target}: no module named {module_part!r} (is it installed or on "
                                  "PYTHONPATH? for a file give path/to/file.py:FACTORY)", e) from None
            raise PluginError(f"--manual {target}: importing {module_part} raised {short(e)} at {where(e)}", e) from None
        except Exception as e:
            raise PluginError(f"--manual {target}: importing {module_part} raised {short(e)} at {where(e)}", e) from None
        files = (str(Path(module.__file__).resolve()),) if getattr(module, "__file__", None) else ()
        label = module_part.rsplit(".", 1)[-1]
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                        and getattr(v, "__module__", None) == module.__name__)
        raise PluginError(f"--manual {target}: {module_part} has no {'callable ' if fn is not None else ''}"
                          f"{attr!r} (it defines: {', '.join(public) or 'nothing callable'})")
    if target in ALIASES:
        label = target
    else:
        label = re.sub(r"[^\w.-]", "_", f"{label}.{attr}")
    return Factory(fn, target, label, files)


def call_factory(factory: Factory, spec: ModelSpec, dtype, l2: float = 0.0, l1: float = 0.0):
    """Call the factory with the keyword arguments it accepts among ``sizes``, ``activation``, ``dtype``
    and the run's regularization (``reg`` - CS231n's name - or ``l2``, and ``l1``)."""
    offered = dict(sizes=[spec.in_features, *spec.hidden, spec.out_features], activation=spec.activation,
                   dtype=np.dtype(dtype).type, reg=l2, l2=l2, l1=l1, output_activation=spec.output_activation)
    named = argument_names(factory.fn)
    # the penalty goes only to a factory that names it: one that does computes it itself (load())
    kwargs = {k: v for k, v in offered.items()
              if (k in named if k in ("reg", "l2", "l1", "output_activation") else accepts(factory.fn, k))}
    if "reg" in kwargs and "l2" in kwargs:
        del kwargs["l2"]
    try:
        return factory.fn(**kwargs)
    except (PluginError, MemoryError):
        raise
    except Exception as e:
        raise PluginError(f"--manual {factory.target}: {factory.fn.__name__}({', '.join(kwargs)}) raised "
                          f"{short(e)} at {where(e, factory.files)}", e) from None


def argument_names(fn) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def detect(obj) -> str:
    """The convention of the object a factory returned."""
    if type(obj).__name__ == "MLPClassifier" and hasattr(obj, "_backprop"):
        return "sklearn"
    if callable(getattr(obj, "named_parameters", None)) and callable(getattr(obj, "backward", None)):
        return "ours"
    if isinstance(getattr(obj, "params", None), dict) and callable(getattr(obj, "loss", None)):
        return "cs231n"
    layers = obj if isinstance(obj, (list, tuple)) else getattr(obj, "layers", None)
    if isinstance(layers, (list, tuple)) and layers and all(hasattr(l, "forward") and hasattr(l, "backward")
                                                            for l in layers):
        return "layers"
    raise PluginError(f"cannot tell the convention of a {type(obj).__name__}: ours needs named_parameters() and "
                      "backward(), cs231n a params dict and loss(), layers a list of layer objects, sklearn an "
                      "MLPClassifier (docs/plugins.md); or force one with --convention")


ADAPTERS = {"ours": Ours, "cs231n": CS231n, "layers": Layers, "sklearn": SKLearn}


def load(target: str | Callable = DEFAULT_TARGET, spec: ModelSpec = ModelSpec(), dtype="float64", *,
         convention: str | None = None, state: dict[str, np.ndarray] | None = None, l2: float = 0.0,
         l1: float = 0.0) -> Implementation:
    """Build the implementation ``target`` names (or a factory callable), adapt it, load ``state``.

    With a weight penalty (``l2``, ``l1``), a factory that takes ``reg``/``l2`` (``l1``) computes it
    itself, in its loss and gradients; for one that does not, the judge adds it to the plug-in's loss
    and weight gradients (``manual.layers.WeightPenalty``) - said in the header."""
    if callable(target):
        factory = Factory(target, getattr(target, "__name__", "factory"), getattr(target, "__name__", "plugin"),
                          (str(Path(inspect.getfile(target)).resolve()),) if inspect.isfunction(target) else ())
    else:
        factory = resolve_factory(target)
    obj = call_factory(factory, spec, dtype, l2, l1)
    if convention in (None, "auto"):
        convention = detect(obj)
    elif convention not in ADAPTERS:
        raise PluginError(f"--convention {convention!r} is unknown; choose auto, {', '.join(CONVENTIONS)}")
    impl = ADAPTERS[convention](obj, spec, dtype, label=factory.label, target=factory.target, files=factory.files)
    names = argument_names(factory.fn)
    owns_l2, owns_l1 = bool({"reg", "l2"} & names), "l1" in names
    impl.penalty = manual.WeightPenalty(0.0 if owns_l2 else l2, 0.0 if owns_l1 else l1)   # what the judge adds
    impl.run_penalty = manual.WeightPenalty(l2, l1)                                         # what the run has
    if state is not None:
        impl.load_state(state)
    return impl
