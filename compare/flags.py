"""A command-line flag as data, and the value parsers its ``kind`` names: no argparse here (``compare.cli``
builds its parser from these), so the CLI and the Python API check a value by the same rules."""

from __future__ import annotations

import math
from dataclasses import dataclass


class BadValue(ValueError):
    """A flag's value the run cannot use: the CLI's parser shows the message in one line (exit 2)."""


def number(typ, low=None, *, above: bool = False, high=None):
    """A value parser: an int or a finite float, at least ``low`` (greater than it when ``above``) and at
    most ``high``, so a value the run cannot use is refused at the parser."""

    def parse(text: str):
        try:
            value = typ(text)
        except ValueError:
            raise BadValue(f"{text!r} is not {'an integer' if typ is int else 'a number'}") from None
        if typ is float and not math.isfinite(value):
            raise BadValue(f"{text!r} is not a finite number")
        if low is not None and (value < low or (above and value == low)):
            raise BadValue(f"{text} must be {'greater than' if above else 'at least'} {low}")
        if high is not None and value > high:
            raise BadValue(f"{text} must be at most {high}")
        return value

    parse.__name__ = typ.__name__  # the parser names the type in its messages
    return parse


def experiment_name(text: str) -> str:
    """--experiment is a directory *name* under --logdir: never a path that leads out of it."""
    if text in ("", ".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise BadValue(
            f"{text!r} is not a name: give one directory name (no '/', not '.' or '..'); --logdir says where it goes"
        )
    return text


def path_text(text: str) -> str:
    """A path flag's value: never empty (an empty --logdir would quietly mean the working directory)."""
    if not text.strip():
        raise BadValue("an empty path; give a directory or file (. for the working directory)")
    return text


def betas(text: str) -> tuple[float, float]:
    try:
        b1, b2 = (float(v) for v in text.split(","))
    except ValueError:
        raise BadValue(f"{text!r} is not two comma-separated numbers such as 0.9,0.999") from None
    return b1, b2


def probability(text: str) -> float:
    """A probability of dropping: in [0, 1) (1 would drop everything)."""
    value = number(float, 0)(text)
    if value >= 1.0:
        raise BadValue(f"{text} must be below 1 (it is the probability of dropping a unit)")
    return value


KINDS = {
    "positive": number(int, 1),
    "nonneg": number(float, 0),
    "above0": number(float, 0, above=True),
    "seed": number(int, 0, high=2**63 - 1),  # numpy's Generator takes non-negative seeds
    "text": str,
    "path": path_text,
    "name": experiment_name,
    "betas": betas,
    "probability": probability,
}


@dataclass(frozen=True)
class Flag:
    flag: str
    dest: str
    kind: str  # a value parser of KINDS, "switch" (store_true) or "maybe" (True or unset)
    help: str
    default: object = None
    metavar: str | None = None
    choices: tuple | None = None
    required: bool = False
    short: str | None = None  # e.g. -o beside --output; a flag without dashes is positional

    def but(self, **changes) -> "Flag":
        from dataclasses import replace

        return replace(self, **changes)
