"""``simplenet plot RUN_DIR``: a run's TensorBoard event files drawn into one PNG, no server.

Reads every run under RUN_DIR (``manual``/``torch``/``divergence`` of a compare, a plug-in's run, or
one train run) as TensorBoard reads it (``compare.events.RunEvents``) and draws ``figures.overlay_figure``:
train loss and test accuracy of each twin, the divergence on a log axis, the final confusion matrices.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from compare import figures, tags
from compare.datasets import DATASETS, DataError

DIVERGENCE_TAGS = (tags.ABS_LOSS_DIFF, tags.ABS_TEST_ACCURACY_DIFF, tags.PARAM_MAX_ABS_DIFF)


def find_runs(root: Path) -> dict[str, Path]:
    """Directories under ``root`` (itself included) that hold event files, by name relative to it."""
    if not root.is_dir():
        raise DataError(f"{root}: not a directory; give the run directory a train or compare run printed (logs: …)")
    runs = {}
    for events in sorted(root.rglob("events.out.tfevents.*")):
        folder = events.parent
        runs[str(folder.relative_to(root)) if folder != root else root.name] = folder
    if not runs:
        raise DataError(
            f"{root}: holds no TensorBoard event files; give the run directory a train or compare run printed (logs: …)"
        )
    return runs


def run_dirs(root: Path) -> list[Path]:
    """The run directories at or under ``root``: one whose event files lie in it or one level down
    (``<run>/manual``, ``<run>/torch`` …).  A sweep directory, or ``runs/`` itself, holds several."""
    if not root.is_dir():
        return []
    if any(root.glob("events.out.tfevents.*")) or any(root.glob("*/events.out.tfevents.*")):
        return [root]
    return [run for child in sorted(p for p in root.iterdir() if p.is_dir()) for run in run_dirs(child)]


def text_payload(run, tag: str):
    """The JSON inside the last text summary ``tag`` written by ``RunLogger.text``, or None."""
    if f"{tag}/text_summary" not in run.tensors:
        return None
    raw = run.tensors[f"{tag}/text_summary"][1].string_val[0].decode()
    match = re.search(r"```json\n(.*)\n```", raw, re.S)
    return json.loads(match.group(1)) if match else None


def epoch_points(steps: list[int], values: list[float]) -> tuple[list[int], list[float]]:
    """A per-epoch curve as TensorBoard holds it (the epoch's figure over its steps, compare.tags) back
    to one point per epoch: the last point of each stretch of one value."""
    keep = [i for i in range(len(values)) if i == len(values) - 1 or values[i + 1] != values[i]]
    return [steps[i] for i in keep], [values[i] for i in keep]


def load(root: Path) -> dict:
    """Every run under ``root`` read once (``compare.events.RunEvents``): the curves, the divergence, the
    confusion counts, the config, and each run's last image of each tag (for ``simplenet report``)."""
    from compare.events import RunEvents

    curves, divergence, matrices, config, images = {}, {}, {}, None, {}
    for name, folder in find_runs(root).items():
        run = RunEvents(folder)
        for line in run.damaged:  # shown as TensorBoard shows it, and said
            print(f"note: {line}", file=sys.stderr)
        images[name] = {tag: png for tag, (_, png) in run.images.items()}
        if name == "divergence":
            for tag in DIVERGENCE_TAGS:
                if tag in run.scalars:
                    points = run.scalars[tag]
                    divergence[tag] = ([s for s, _ in points], [v for _, v in points])
            continue
        curves[name] = {
            tag: ([s for s, _ in run.scalars[tag]], [v for _, v in run.scalars[tag]])
            for tag in (tags.TRAIN_LOSS, tags.TEST_ACCURACY)
            if tag in run.scalars
        }
        if tags.TEST_ACCURACY in curves[name]:  # one point per epoch: the last of each held stretch
            curves[name][tags.TEST_ACCURACY] = epoch_points(*curves[name][tags.TEST_ACCURACY])
        counts = text_payload(run, tags.CONFUSION_COUNTS)
        if counts is not None:
            matrices[name] = np.asarray(counts, dtype=np.int64)
        config = config or text_payload(run, tags.TEXT_CONFIG)
    if not any(curves.values()):
        raise DataError(
            f"{root}: its event files hold no {tags.TRAIN_LOSS} or {tags.TEST_ACCURACY}; is it a simplenet run?"
        )
    return dict(curves=curves, divergence=divergence, matrices=matrices, config=config or {}, images=images)


def plot(root: str | Path, out: str | Path | None = None) -> Path:
    root = Path(root)
    fig = overlay(root)
    out = Path(out) if out else root / "plot.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures.save_png(fig, out)
    return out


def overlay(root: Path, data: dict | None = None):
    """The run's figure: both twins' curves, the divergence on a log axis, the confusion matrices."""
    data = data or load(root)
    cfg = data["config"].get("config", {})
    dataset = DATASETS.get(cfg.get("dataset", "mnist"), DATASETS["mnist"])
    k = next(iter(data["matrices"].values())).shape[0] if data["matrices"] else len(dataset.classes)
    names = dataset.classes if len(dataset.classes) == k else tuple(map(str, range(k)))
    spec = cfg.get("spec", {})
    shape = " → ".join(map(str, [spec.get("in_features", "?"), *spec.get("hidden", []), spec.get("out_features", "?")]))
    title = (
        f"{root.name}: simplenet {data['config'].get('command', '?')}, {dataset.title}, {shape}, "
        f"{cfg.get('dtype', '?')}, {cfg.get('optimizer', '?')} lr {cfg.get('lr', '?')}"
    )
    return figures.overlay_figure(data["curves"], data["divergence"], data["matrices"], names, title)


def plot_runs(run_dir: str, output: str | None = None) -> int:
    """``simplenet plot``: one PNG per run - the run directory given, or each run under a sweep directory
    or ``runs/``; prints what it wrote (and what it skipped, when there are several) and returns the exit
    code: 0 when anything was drawn."""
    import sys

    from compare.errors import ConfigError, ResourceError
    from compare.resources import os_error_line

    runs = run_dirs(Path(run_dir)) or [Path(run_dir)]  # none: plot() says why in one line
    if len(runs) > 1 and output:
        raise ConfigError(
            f"{run_dir} holds {len(runs)} runs; drop -o to write RUN/plot.png for each, "
            f"or give one run directory (e.g. {runs[0]})"
        )
    wrote = 0
    for run in runs:
        try:
            out = plot(run, output)
        except OSError as e:
            raise ResourceError(os_error_line(e, str(output or run))) from None
        except DataError as e:
            if len(runs) == 1:
                raise
            print(f"skipped {run}: {e}", file=sys.stderr)
            continue
        print(f"wrote {out}")
        wrote += 1
    return 0 if wrote else 2
