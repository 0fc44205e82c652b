"""``simplenet layercheck TARGET``: a learner's layer functions (CS231n's ``layers.py`` and friends) judged
against torch, function by function, with the known layer bugs named by re-enactment.

    from compare import check_layers
    report = check_layers("cs231n/layers.py")      # a file, a module name, or a module object
    report.ok; print(report); report.to_dict()       # the CLI's table and --json

Each layer family is one module of this package (``affine``, ``losses``, ``batchnorm``, ``layernorm``,
``dropout``, ``conv``, ``spatial`` from assignment 2; ``rnn``, ``lstm`` from assignment 3) holding its torch reference in the course's conventions, its checks and its catalogue
of bugs; importing it registers its layers (``base.register``), so a new family is one file.  What a row's
verdict means, and how a bug is named, is ``base.judge``.
"""

from __future__ import annotations

import html
import warnings

import numpy as np

from compare.errors import ConfigError
from compare.layercheck import (  # noqa: F401 - importing a family registers its layers
    affine,
    batchnorm,
    conv,
    dropout,
    layernorm,
    losses,
    lstm,
    rnn,
    spatial,
)
from compare.layercheck.base import LAYERS, RTOL, LayerResult, Student, judge
from compare.plugins import PluginError, resolve_module

__all__ = ["check_layers", "LayerReport", "LAYERS", "known_functions"]


def known_functions() -> list[str]:
    """The course's function names the judge recognises, in its order."""
    seen: list[str] = []
    for layer in LAYERS:
        seen += [n for n in layer.needs if n not in seen]
    return seen


def check_layers(target, *, only=None, seed: int = 0, rtol: float = RTOL) -> LayerReport:
    """Judge every layer of ``target`` the judge recognises (by the course's function names); ``only``
    limits it to some rows (``["batchnorm", "dropout"]`` or a comma-separated string)."""
    module, files, label = load(target)
    student = Student(module, label, files)
    present = [layer for layer in LAYERS if student.has(layer.needs[0])]
    if not present:
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise PluginError(
            f"layercheck {target}: no layer function recognised (it defines: {', '.join(defined) or 'nothing'}); "
            f"layercheck knows {', '.join(known_functions())} (docs/layers.md)"
        )
    wanted = [n.strip() for n in only.split(",")] if isinstance(only, str) else list(only or [])
    if wanted:
        names = [layer.name for layer in LAYERS]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ConfigError(f"--only {','.join(unknown)}: unknown; choose from {', '.join(names)}")
        present = [layer for layer in present if layer.name in wanted]
        missing = [n for n in wanted if n not in [layer.name for layer in present]]
        if missing:
            raise ConfigError(f"--only {','.join(missing)}: {label} does not define those functions")
    with np.errstate(all="ignore"), warnings.catch_warnings():  # an overflow of theirs is judged, not printed
        warnings.simplefilter("ignore", RuntimeWarning)
        results = [judge(layer, student, np.random.default_rng([seed, k]), rtol) for k, layer in enumerate(present)]
    return LayerReport(str(getattr(target, "__name__", target)), results, rtol)


def load(target):
    """A module object as it is; a path or module name through the one loader of learner code."""
    if hasattr(target, "__dict__") and not isinstance(target, str):
        path = getattr(target, "__file__", None)
        return target, ((path,) if path else ()), target.__name__.rsplit(".", 1)[-1]
    return resolve_module(str(target), f"layercheck {target}")


class LayerReport:
    """The verdict on a layer file: ``.ok``, ``.results`` (one ``LayerResult`` per layer), ``str()`` the
    CLI's table, ``to_dict()`` its --json, and a table in Jupyter."""

    def __init__(self, target: str, results: list[LayerResult], rtol: float):
        self.target, self.results, self.rtol = target, results, rtol

    @property
    def ok(self) -> bool:
        return not any(r.verdict == "MISMATCH" for r in self.results)

    passed = ok

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "passed": self.ok,
            "tolerance": self.rtol,
            "functions": [r.to_dict() for r in self.results],
        }

    def __str__(self) -> str:
        lines = [
            f"layercheck: {self.target} against torch (float64; tolerance {self.rtol:.0e}, relative to the larger magnitude)",
            f"{'layer':<24}{'verdict':<13}{'worst rel err':>14}  checks",
        ]
        for r in self.results:
            worst = max((c.rel_err for c in r.checks), default=0.0)
            failed = [c.name for c in r.checks if not c.passed]
            checks = ", ".join(failed) + " differ" if failed else f"{len(r.checks)} agree"
            lines.append(f"{r.function:<24}{r.verdict:<13}{worst:>14.1e}  {checks}")
            if r.convention:
                lines.append(f"  convention: {r.convention}")
            if r.diagnosis and r.verdict != "AGREE":
                lines.append(f"  diagnosis [{r.diagnosis['code']}]: {r.diagnosis['message']}")
        bad = [r.function for r in self.results if r.verdict == "MISMATCH"]
        written = [r for r in self.results if r.verdict != "NOT WRITTEN"]
        lines.append(
            f"verdict: MISMATCH - {', '.join(bad)} differ from torch"
            if bad
            else f"verdict: AGREE - all {len(written)} written layer(s) within {self.rtol:.0e} of torch"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = {"AGREE": "#1a7f37", "MISMATCH": "#cf222e", "VARIANT": "#9a6700", "NOT WRITTEN": "#57606a"}
        rows = "".join(
            f"<tr><td>{html.escape(r.function)}</td><td style='color:{colour.get(r.verdict, '#000')}'>"
            f"<b>{r.verdict}</b></td><td>{html.escape(r.diagnosis['message'] if r.diagnosis and r.verdict != 'AGREE' else (r.convention or ''))}</td></tr>"
            for r in self.results
        )
        return f"<table><tr><th>layer</th><th>verdict</th><th>why</th></tr>{rows}</table>"

    def __repr__(self) -> str:
        return f"<LayerReport {self.target}: {'AGREE' if self.ok else 'MISMATCH'}>"
