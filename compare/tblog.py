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

from compare import tags
from compare.errors import ResourceError
from compare.events import EventWriter
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
    """One event file (``compare.events.EventWriter``, torch-free); ``purge_step`` drops points a crashed
    run wrote past its checkpoint.  Scalars are buffered and written at each ``flush``.

    A write that fails (disk full, a path gone) becomes one ``ResourceError`` naming the run
    directory; the events written before it stay readable."""

    def __init__(self, run_dir: Path, purge_step: int | None = None, experiment: str | None = None):
        self.run_dir = Path(run_dir)
        self.experiment = experiment  # the scalars its Custom Scalars charts draw are also logged scoped to it
        self.start_time = time.time()
        after_earlier_files(self.run_dir)
        try:
            self.writer = EventWriter(self.run_dir, purge_step=purge_step)
        except OSError as e:
            raise ResourceError("TensorBoard log " + os_error_line(e, str(self.run_dir))) from None

    def step_losses(self, first_step: int, losses: np.ndarray, tag: str) -> None:
        add = self.writer.scalar
        values = losses.tolist()
        for i, value in enumerate(values):
            add(tag, value, first_step + i)
        if self.experiment is not None and tags.on_dashboard(tag):
            tag = tags.scoped(self.experiment, tag)
            for i, value in enumerate(values):
                add(tag, value, first_step + i)

    def scalars(self, values: dict[str, float], step: int) -> None:
        add = self.writer.scalar
        for tag, value in values.items():
            add(tag, float(value), step)
            if self.experiment is not None and tags.on_dashboard(tag):
                add(tags.scoped(self.experiment, tag), float(value), step)

    def histograms(self, prefix: str, arrays: dict[str, np.ndarray], step: int) -> None:
        for name, value in arrays.items():
            self.writer.histogram(f"{prefix}/{name}", value, step)

    def text(self, tag: str, payload, step: int = 0) -> None:
        """JSON as a fenced block in the Text tab (``compare.plot`` reads it back)."""
        self.markdown(tag, "```json\n" + json.dumps(payload, indent=2, default=str) + "\n```", step)

    def markdown(self, tag: str, text: str, step: int = 0) -> None:
        self.writer.text(f"{tag}/text_summary", text, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An (H, W, 3) uint8 image (compare.figures makes them) as a 256-colour palette PNG: the pictures
        use colour maps of 256 entries, and a quarter of the bytes is a quarter of the checksumming."""
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).quantize(256, method=Image.Quantize.FASTOCTREE).save(
            buffer, format="PNG", compress_level=1
        )
        picture = Summary.Image(
            height=image.shape[0], width=image.shape[1], colorspace=3, encoded_image_string=buffer.getvalue()
        )
        self.writer.summary(Summary.Value(tag=tag, image=picture), step)

    def custom_scalars(self, layout: dict) -> None:
        """TensorBoard's Custom Scalars tab: {category: {chart title: ["Multiline", [tag regexes]]}}."""
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
        from tensorboard.plugins.custom_scalar import layout_pb2

        categories = [
            layout_pb2.Category(
                title=category,
                chart=[
                    layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags))
                    for title, (_, tags) in charts.items()
                ],
            )
            for category, charts in layout.items()
        ]
        tensor = TensorProto(
            dtype=7,
            string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
            tensor_shape=TensorShapeProto(),
        )
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
        self.writer.summary(Summary.Value(tag="custom_scalars__config__", tensor=tensor, metadata=meta), 0)

    def hparams(self, params: dict) -> None:
        """This run as one session of TensorBoard's HParams tab (the run directory itself, not a sub-run,
        so sessions are named ``<experiment>/<twin>``): its hyper-parameters and its end.

        No experiment record is written.  TensorBoard then works out each parameter's type and whether
        it *differs* across every run under --logdir, and ticks the differing ones first (its table shows
        five at first): a record from one run would fix the columns for all, with nothing differing.
        Its metrics are then the run's own scalars, whose first five by name are ``curves/``: the final
        figures.  Integers are written as text: HParams prints every number to five digits ("64.000")."""
        from google.protobuf import struct_pb2
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

        info = plugin_data_pb2.SessionStartInfo(start_time_secs=self.start_time)
        for name, value in params.items():
            if isinstance(value, bool):
                info.hparams[name].CopyFrom(struct_pb2.Value(bool_value=value))
            elif isinstance(value, float):
                info.hparams[name].CopyFrom(struct_pb2.Value(number_value=value))
            else:  # str, and int (batch size, epochs, seed) as its digits
                info.hparams[name].CopyFrom(struct_pb2.Value(string_value=str(value)))
        end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"), end_time_secs=time.time())
        for tag, content in (
            ("_hparams_/session_start_info", plugin_data_pb2.HParamsPluginData(session_start_info=info)),
            ("_hparams_/session_end_info", plugin_data_pb2.HParamsPluginData(session_end_info=end)),
        ):
            content.version = 0
            self.writer.plugin(tag, "hparams", content.SerializeToString())

    def graph(self, graph_def: bytes) -> None:
        """The Graphs tab: a module graph (``module_graph`` makes it)."""
        from tensorboard.compat.proto.event_pb2 import Event

        self.writer.event(Event(wall_time=time.time(), graph_def=graph_def))

    # Only flush and close touch the disk (everything else is encoded into memory): their failure is one
    # ResourceError naming the run directory (exit 4)
    def flush(self) -> None:
        self._disk(self.writer.flush)

    def close(self) -> None:
        self._disk(self.writer.close)

    def _disk(self, write) -> None:
        try:
            write()
        except OSError as e:
            raise ResourceError("TensorBoard log " + os_error_line(e, str(self.run_dir))) from None


def module_graph(model, example) -> bytes:
    """The torch twin's module graph as TensorBoard's GraphDef, traced by torch's own exporter on one
    input (only a torch twin's run calls this, so only it loads that part of torch)."""
    import warnings

    from torch.utils.tensorboard._pytorch_graph import graph

    with warnings.catch_warnings():  # torch's exporter traces with torch.jit, which warns it is deprecated
        warnings.simplefilter("ignore", FutureWarning)
        graph_def, _ = graph(model, (example,))
    return graph_def.SerializeToString()
