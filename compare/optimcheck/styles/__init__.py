"""The styles of hand-written optimizer the judge drives as they are written, one module each, and how a
target is resolved to one: the first registered style (by priority) that claims the target's callable.
A new style is one module here that registers itself (``Style``)."""

from __future__ import annotations

from compare.optimcheck.styles import cs231n, nnfs, step  # noqa: F401  (they register)
from compare.optimcheck.styles.cs231n import CS231nRule
from compare.optimcheck.styles.nnfs import NNFSLayer, NNFSOptimizer
from compare.optimcheck.styles.registry import SHAPES, STYLES, Style, register
from compare.optimcheck.styles.step import StepOptimizer
from compare.plugins import PluginError, resolve_factory


def load(target: str, overrides: dict):
    """``FILE_OR_MODULE:NAME``: a cs231n function (NAME = sgd, sgd_momentum, rmsprop, adam), a factory / class
    returning an nnfs-style optimizer object, or a torch-shaped ``FACTORY(params, …)`` - whichever registered
    style claims it."""
    if ":" not in target:
        raise PluginError(f"--plugin-optimizer {target!r}: give FILE_OR_MODULE:NAME, e.g. optim.py:adam")
    factory = resolve_factory(target, "--plugin-optimizer")
    fn, name = factory.fn, target.rpartition(":")[2]
    style = next(s for s in STYLES if s.claims(fn))
    return style.build(fn, name, factory, overrides, target)


__all__ = ["SHAPES", "STYLES", "CS231nRule", "NNFSLayer", "NNFSOptimizer", "StepOptimizer", "Style", "load", "register"]
