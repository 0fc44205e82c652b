"""TensorBoard logging: one run directory per twin under one experiment, identical tags.

    <logdir>/<experiment>/manual      train/loss, train/accuracy, test/loss, test/accuracy, …
    <logdir>/<experiment>/torch       the same tags, so TensorBoard overlays the twins
    <logdir>/<experiment>/divergence  divergence/abs_loss_diff per step (compare only)

Pictures (``compare.figures``) go to the same runs at epoch ends: ``weights/layer1`` (what each
first-layer unit looks at), ``confusion/test`` with ``test/accuracy_per_class/<class>``, and at
the last epoch ``mistakes/most_confident``; in compare, ``divergence/layer1_weights_abs_diff``,
``divergence/test_predictions_differ`` and ``divergence/disagreements``.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from compare.errors import ResourceError
from compare.resources import os_error_line


def new_experiment_dir(logdir: str | Path, name: str | None, prefix: str) -> Path:
    """Claim ``logdir/name`` (default ``prefix-YYYYmmdd-HHMMSS``), else ``-2``, ``-3``…: each is created
    exclusively (``mkdir`` fails if another process got there first), so runs started at once with
    the same name never share a directory."""
    base = Path(logdir) / (name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
    base.parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def after_earlier_files(run_dir: Path) -> None:
    """TensorBoard reads a run's event files in name order, and the name starts with the writer's start
    time in whole seconds (then the host and the pid).  A resumed run that starts within the second of an
    earlier writer of the same directory could sort *before* it, and that writer's purge event would then
    hide the resumed steps.  Wait (at most a second, only then) until this writer's file sorts last."""
    latest = 0
    for f in run_dir.glob("events.out.tfevents.*"):
        try:
            latest = max(latest, int(f.name.split(".")[3]))
        except (IndexError, ValueError):
            continue
    while latest and int(time.time()) <= latest:
        time.sleep(0.05)


class RunLogger:
    """One ``SummaryWriter``; ``purge_step`` drops points a crashed run wrote past its checkpoint.

    A write that fails (disk full, a path gone) becomes one ``ResourceError`` naming the run
    directory; the events written before it stay readable."""

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        after_earlier_files(self.run_dir)
        try:
            self.writer = SummaryWriter(str(self.run_dir), purge_step=purge_step)
        except OSError as e:
            raise ResourceError("TensorBoard log " + os_error_line(e, str(self.run_dir))) from None
        for name in ("step_losses", "scalars", "histograms", "text", "hparams", "flush", "image", "custom_scalars"):
            setattr(self, name, self._guarded(getattr(self, name)))

    def _guarded(self, method):
        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except OSError as e:
                raise ResourceError("TensorBoard log " + os_error_line(e, str(self.run_dir))) from None

        return call

    def step_losses(self, first_step: int, losses: np.ndarray, tag: str = "train/loss") -> None:
        for i, value in enumerate(losses):
            self.writer.add_scalar(tag, float(value), first_step + i)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step)

    def histograms(self, prefix: str, arrays: dict[str, np.ndarray], step: int) -> None:
        for name, value in arrays.items():
            self.writer.add_histogram(f"{prefix}/{name}", np.asarray(value, dtype=np.float64), step)

    def text(self, tag: str, payload, step: int = 0) -> None:
        self.writer.add_text(tag, "```json\n" + json.dumps(payload, indent=2, default=str) + "\n```", step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An (H, W, 3) uint8 image (compare.figures makes them), as the image summary ``add_image``
        writes but as a 256-colour palette PNG: the pictures use colour maps of 256 entries, and a
        quarter of the bytes is a quarter of the event writer's checksumming (pure Python, ~0.2 µs a
        byte) - the main cost of an image per epoch."""
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).quantize(256, method=Image.Quantize.FASTOCTREE).save(
            buffer, format="PNG", compress_level=1
        )
        value = Summary.Value(
            tag=tag,
            image=Summary.Image(
                height=image.shape[0], width=image.shape[1], colorspace=3, encoded_image_string=buffer.getvalue()
            ),
        )
        self.writer._get_file_writer().add_summary(Summary(value=[value]), step)

    def custom_scalars(self, layout: dict) -> None:
        """TensorBoard's Custom Scalars tab: {category: {chart title: ["Multiline", [tag regexes]]}}."""
        self.writer.add_custom_scalars(layout)

    def hparams(self, params: dict, metrics: dict[str, float]) -> None:
        """hparams plugin entry in this run directory (not a sub-run), with its final metrics."""
        clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
        for summary in hparams(clean, metrics):
            self.writer._get_file_writer().add_summary(summary)
        self.scalars(metrics, 0)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        try:
            self.writer.close()
        except OSError as e:
            raise ResourceError("TensorBoard log " + os_error_line(e, str(self.run_dir))) from None
