"""Loading a plug-in: ``--manual`` TARGET (an alias, ``MODULE:FACTORY`` or ``path/to/file.py:FACTORY``, or
a factory callable) → the factory → its object → the adapter of its convention (detected through the
registry, or forced) with the run's penalty and, optionally, the harness's weights."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import manual
from compare.config import ModelSpec
from compare.plugins.protocol import (
    Implementation,
    PluginError,
    accepts,
    adapters,
    aliases,
    call_learner,
    convention_names,
    user_code,
)

DEFAULT_TARGET = "manual"


@dataclass
class Factory:
    fn: Callable
    target: str
    label: str
    files: tuple[str, ...]


def resolve_factory(target: str, flag: str = "--manual") -> Factory:
    """``sklearn``, ``manual``, ``MODULE:FACTORY`` or ``path/to/file.py:FACTORY`` → the factory."""
    spelled = aliases().get(target, target)
    if ":" not in spelled:
        raise PluginError(f"{flag} {target!r}: give sklearn, MODULE:FACTORY or path/to/file.py:FACTORY")
    module_part, _, attr = spelled.rpartition(":")
    if not module_part or not attr:
        raise PluginError(f"{flag} {target!r}: give sklearn, MODULE:FACTORY or path/to/file.py:FACTORY")
    module, files, label = resolve_module(module_part, f"{flag} {target}")
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        public = sorted(
            n
            for n, v in vars(module).items()
            if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        )
        raise PluginError(
            f"{flag} {target}: {module_part} has no {'callable ' if fn is not None else ''}"
            f"{attr!r} (it defines: {', '.join(public) or 'nothing callable'})"
        )
    if target in aliases():
        label = target
    else:
        label = re.sub(r"[^\w.-]", "_", f"{label}.{attr}")
    return Factory(fn, target, label, files)


def importable_from(folder: str) -> set[str]:
    """The top-level names an import from ``folder`` would find there: its ``.py`` files and packages."""
    names = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.endswith(".py") and entry.is_file():
                names.add(entry.name[:-3])
            elif entry.is_dir() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                names.add(entry.name)
    return names


def shadowed(name: str, module, near: set[str]) -> bool:
    """A learner's own module (never this project's, nor an installed package) that an import from the
    plug-in's folder would find under ``name`` (``near``: what that folder holds) but that was imported
    before (from there or elsewhere): it is imported again, so what the learner's file imports is what is
    on disk.  The folder is listed once, not probed for each of the thousands of modules loaded."""
    if name.split(".", 1)[0] not in near:
        return False
    path = getattr(module, "__file__", None)
    return bool(path) and user_code(str(Path(path).resolve()))


def resolve_module(module_part: str, culprit: str):
    """The one way learner code is loaded - a net's factory, an update rule, a layer file: ``path/to/file.py``
    (imported as ``python file.py`` would run it: its folder importable while it loads, so it may import
    its sibling files) or ``package.module``.  Returns (module, its files, a label); any failure is one line
    starting with ``culprit`` (the flag and its value)."""
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.is_file():
            raise PluginError(f"{culprit}: file {path} not found")
        name = "simplenet_plugin_" + re.sub(r"\W", "_", str(path.resolve()))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up by name
        files = (str(path.resolve()),)
        folder = str(path.resolve().parent)
        added = folder not in sys.path
        if added:
            sys.path.insert(0, folder)
        near = importable_from(folder)
        for cached in [n for n, m in list(sys.modules.items()) if shadowed(n, m, near)]:
            del sys.modules[cached]  # a sibling edited since it was last imported (a notebook re-run) is read again
        try:
            call_learner(f"{culprit}: importing {path}", spec.loader.exec_module, module, files=files)
        except PluginError:
            del sys.modules[name]
            raise
        finally:
            if added and folder in sys.path:
                sys.path.remove(folder)
        return module, files, path.stem
    try:
        module = call_learner(f"{culprit}: importing {module_part}", importlib.import_module, module_part)
    except PluginError as e:
        missing = e.cause
        if isinstance(missing, ModuleNotFoundError) and missing.name and module_part.startswith(missing.name):
            raise PluginError(
                f"{culprit}: no module named {module_part!r} (is it installed or on "
                "PYTHONPATH? for a file give path/to/file.py)",
                missing,
            ) from None
        raise
    files = (str(Path(module.__file__).resolve()),) if getattr(module, "__file__", None) else ()
    return module, files, module_part.rsplit(".", 1)[-1]


# offered only to a factory that names them (the others to one that takes **kwargs too)
OFFERED_BY_NAME = (
    "reg",
    "l2",
    "l1",
    "output_activation",
    "norm",
    "dropout",
    "hidden_dims",
    "input_dim",
    "num_classes",
    "normalization",
    "dropout_keep_ratio",
    "use_batchnorm",
)


def call_factory(factory: Factory, spec: ModelSpec, dtype, l2: float = 0.0, l1: float = 0.0):
    """Call the factory with the keyword arguments it accepts among ``sizes``, ``activation``, ``dtype``
    and the run's regularization (``reg`` - CS231n's name - or ``l2``, and ``l1``)."""
    offered = dict(
        sizes=[spec.in_features, *spec.hidden, spec.out_features],
        activation=spec.activation,
        dtype=np.dtype(dtype).type,
        reg=l2,
        l2=l2,
        l1=l1,
        output_activation=spec.output_activation,
        norm=spec.norm,
        dropout=spec.dropout,
        # CS231n's FullyConnectedNet called as it is: 2019+ (normalization, dropout_keep_ratio), 2017 (use_batchnorm,
        # dropout = the drop probability)
        hidden_dims=list(spec.hidden),
        input_dim=spec.in_features,
        num_classes=spec.out_features,
        normalization=None if spec.norm == "none" else spec.norm,
        dropout_keep_ratio=1.0 - spec.dropout,
        use_batchnorm=spec.norm == "batchnorm",
    )
    named = argument_names(factory.fn)
    # the penalty goes only to a factory that names it: one that does computes it itself (load())
    kwargs = {k: v for k, v in offered.items() if (k in named if k in OFFERED_BY_NAME else accepts(factory.fn, k))}
    if "reg" in kwargs and "l2" in kwargs:
        del kwargs["l2"]
    name = getattr(factory.fn, "__name__", "factory")
    return call_learner(
        f"--manual {factory.target}: {name}({', '.join(kwargs)})", factory.fn, files=factory.files, **kwargs
    )


def argument_names(fn) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def detect(obj) -> str:
    """The convention of the object a factory returned: the first registered one that matches it."""
    for adapter in adapters():
        if adapter.matches(obj):
            return adapter.name
    needs = ", ".join(a.needs for a in adapters() if a.needs)
    raise PluginError(
        f"cannot tell the convention of a {type(obj).__name__}: {needs} (docs/plugins.md); or "
        "force one with --convention"
    )


def load(
    target: str | Callable = DEFAULT_TARGET,
    spec: ModelSpec = ModelSpec(),
    dtype="float64",
    *,
    convention: str | None = None,
    state: dict[str, np.ndarray] | None = None,
    l2: float = 0.0,
    l1: float = 0.0,
) -> Implementation:
    """Build the implementation ``target`` names (or a factory callable), adapt it, load ``state``.

    With a weight penalty (``l2``, ``l1``), a factory that takes ``reg``/``l2`` (``l1``) computes it
    itself, in its loss and gradients; for one that does not, the judge adds it to the plug-in's loss
    and weight gradients (``manual.layers.WeightPenalty``) - said in the header."""
    if callable(target):
        factory = Factory(
            target,
            getattr(target, "__name__", "factory"),
            getattr(target, "__name__", "plugin"),
            (str(Path(inspect.getfile(target)).resolve()),) if inspect.isfunction(target) else (),
        )
    else:
        factory = resolve_factory(target)
    obj = call_factory(factory, spec, dtype, l2, l1)
    if convention in (None, "auto"):
        convention = detect(obj)
    elif convention not in convention_names():
        raise PluginError(f"--convention {convention!r} is unknown; choose auto, {', '.join(convention_names())}")
    adapter = {a.name: a for a in adapters()}[convention]
    impl = adapter(obj, spec, dtype, label=factory.label, target=factory.target, files=factory.files)
    names = argument_names(factory.fn)
    owns_l2, owns_l1 = bool({"reg", "l2"} & names), "l1" in names
    impl.reg_route = "the factory's reg argument" if owns_l2 else None
    if l2 and not owns_l2:  # the learner's own regularization code, reached the ways real nets take λ
        owns_l2 = impl.take_reg(l2)
    impl.owns_l2 = owns_l2
    impl.penalty = manual.WeightPenalty(0.0 if owns_l2 else l2, 0.0 if owns_l1 else l1)  # what the judge adds
    impl.run_penalty = manual.WeightPenalty(l2, l1)  # what the run has
    if state is not None:
        impl.load_state(state)
    return impl
