"""The registry of optimizer styles (``compare.optimcheck.styles`` reads it top-down)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SHAPES = {"layer1.weight": (5, 6), "layer1.bias": (5,), "layer2.weight": (3, 5), "layer2.bias": (3,)}


@dataclass(frozen=True)
class Style:
    name: str
    priority: int  # lower first
    claims: Callable[[object], bool]  # the factory's callable → whether it is of this style
    build: Callable  # (fn, name, factory, overrides, target) → the adapter the judge drives


STYLES: list[Style] = []


def register(style: Style) -> Style:
    STYLES.append(style)
    STYLES.sort(key=lambda s: s.priority)
    return style
