"""The instructor's CHECKS.toml: a list of ``[[check]]`` tables, each read and validated once, with one
line naming the file, the check and what is wrong.

    [[check]]
    name = "FullyConnectedNet gradients"
    kind = "gradcheck"            # gradcheck | compare | optimcheck | layercheck
    target = "factory.py:make"    # relative to each submission folder (its folder on sys.path)
    options = { l2 = 0.1 }        # the command's own options, by their long names
    points = 10
    visibility = "visible"        # Gradescope's values
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from compare.errors import ConfigError

KINDS = {"gradcheck": "gradcheck", "optimcheck": "optimcheck", "layercheck": "layercheck", "compare": "compare"}
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's


@dataclass(frozen=True)
class Check:
    name: str
    kind: str
    target: str
    points: float
    visibility: str = "visible"
    options: dict = field(default_factory=dict)
    deductions: dict = field(default_factory=dict)  # diagnosis code → the share of the points it costs (default 1)


def read_checks(path: str | Path) -> list[Check]:
    """Every check of ``path``, validated: kinds, targets, points, visibility and each option through the
    command's own flag rules (compare.options.check_arguments)."""
    from compare.options import check_arguments

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the dependency is declared for these
        import tomli as tomllib
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--checks {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--checks {path}: cannot read it ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--checks {path}: not valid TOML ({e})") from None
    tables = data.get("check")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"--checks {path}: no [[check]] tables (docs/grading.md shows the format)")
    checks, names = [], set()
    for i, t in enumerate(tables, start=1):
        where = f"{path}, check {i}" + (f" ({t.get('name')!r})" if isinstance(t, dict) and t.get("name") else "")
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: not a table")
        unknown = sorted(set(t) - {"name", "kind", "target", "options", "points", "visibility", "deductions"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        name, kind, target = t.get("name"), t.get("kind"), t.get("target")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: give it a name")
        if name in names:
            raise ConfigError(f"{where}: the name {name!r} is used twice")
        names.add(name)
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind {kind!r} is unknown; choose {', '.join(KINDS)}")
        if not isinstance(target, str) or not target.strip():
            raise ConfigError(f"{where}: give a target (a file or FILE:NAME relative to the submission)")
        points = t.get("points", 1)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not points >= 0:
            raise ConfigError(f"{where}: points must be a number ≥ 0, not {points!r}")
        visibility = t.get("visibility", "visible")
        if visibility not in VISIBILITY:
            raise ConfigError(f"{where}: visibility {visibility!r} is not Gradescope's; choose {', '.join(VISIBILITY)}")
        options = t.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: options must be a table, e.g. options = {{ l2 = 0.1 }}")
        options = {k.replace("-", "_"): v for k, v in options.items()}
        check_arguments(KINDS[kind], where, options)
        deductions = t.get("deductions", {})
        if not isinstance(deductions, dict) or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in deductions.values()
        ):
            raise ConfigError(
                f"{where}: deductions must map diagnosis codes to the share of the points each costs, 0 to 1, "
                'e.g. deductions = { "batch-sum" = 0.5 }'
            )
        checks.append(
            Check(name, kind, target, float(points), visibility, options, {k: float(v) for k, v in deductions.items()})
        )
    return checks
