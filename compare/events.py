"""TensorBoard event files without torch: tensorboard's own protobufs, written in batches.

The hand-written twin's process never imports torch, so its runs cannot be logged through
``torch.utils.tensorboard``; both twins' runs are written here, by one code path.

* The records are tensorboard's generated protobuf classes (``tensorboard.compat.proto``: Event,
  Summary, HistogramProto, the hparams and custom-scalars plugin data), serialized by protobuf.
* Each record is framed as TensorBoard reads it (the TFRecord format: length, masked CRC-32C of the
  length, data, masked CRC-32C of the data).  The CRC is the ``crc32c`` package's C implementation
  (~0.1 µs for a scalar event, against 22 µs in tensorboard's pure-Python fallback, which is used
  when that package is missing: only slower).
* Nothing is encoded at the call site: a scalar costs one list append there.  ``flush`` encodes what
  is pending and writes it in one ``write`` call; the runner flushes every ``--log-every`` steps, at
  epoch ends, before each checkpoint and on exit, so a checkpoint never covers steps whose events are
  not on disk.  A failed write raises the ``OSError`` (``RunLogger`` makes it one line, exit 4) and
  what was written before it stays readable.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

try:
    from crc32c import crc32c as _crc32c  # C (SSE4.2 where the CPU has it)

    FAST_CRC = True
except ImportError:  # tensorboard's own, in pure Python: the same checksum, ~200× slower
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c as _crc32c

    FAST_CRC = False

_files = 0


_LENGTH, _CRC = struct.Struct("<Q").pack, struct.Struct("<I").pack


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C: rotate right by 15 bits and add a constant."""
    crc = _crc32c(data) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_HEADERS: dict[int, bytes] = {}  # length -> the length and its masked CRC: a scalar event's few lengths recur


def frame(data: bytes) -> bytes:
    n = len(data)
    header = _HEADERS.get(n)
    if header is None:
        header = _LENGTH(n)
        header += _CRC(masked_crc(header))
        if len(_HEADERS) < 4096:
            _HEADERS[n] = header
    return b"".join((header, data, _CRC(masked_crc(data))))


class EventWriter:
    """One event file in ``run_dir``, named as TensorBoard's writers name theirs (start time, host, pid):
    TensorBoard reads a run's files in name order.  ``purge_step`` marks a restart: TensorBoard then
    drops the points an earlier writer of this run left at or after that step."""

    def __init__(self, run_dir: str | Path, purge_step: int | None = None):
        global _files
        _files += 1
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{_files}"
        self.path = run_dir / name
        self.file = open(self.path, "ab")
        self.scalars: list[tuple[str, float, int, float]] = []  # (tag, value, step, wall time), not yet encoded
        self.records: list[bytes] = []  # encoded, not yet written
        self.templates: dict[str, tuple[Event, Summary.Value]] = {}  # one reused scalar event per tag
        self._add(Event(wall_time=time.time(), step=purge_step or 0, file_version="brain.Event:2"))
        if purge_step is not None:
            self._add(Event(wall_time=time.time(), step=purge_step, session_log=SessionLog(status=SessionLog.START)))
        self.flush()

    def _add(self, event: Event) -> None:
        self.records.append(frame(event.SerializeToString()))

    event = _add  # any other event (a graph)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step, time.time()))

    def summary(self, value: Summary.Value, step: int) -> None:
        """A summary value of any kind (image, histogram, text, plugin data), encoded now."""
        self._add(Event(wall_time=time.time(), step=step, summary=Summary(value=[value])))

    def histogram(self, tag: str, values: np.ndarray, step: int, bins: int = 64) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]  # a NaN or inf has no bucket (the run's checks say where they came from)
        counts, edges = np.histogram(values, bins=bins) if values.size else (np.zeros(0), np.zeros(1))
        proto = HistogramProto(
            min=float(values.min(initial=0.0)),
            max=float(values.max(initial=0.0)),
            num=int(values.size),
            sum=float(values.sum()),
            sum_squares=float(np.dot(values, values)),
            bucket_limit=edges[1:].tolist(),
            bucket=counts.astype(np.float64).tolist(),
        )
        self.summary(Summary.Value(tag=tag, histo=proto), step)

    def text(self, tag: str, markdown: str, step: int = 0) -> None:
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        tensor = TensorProto(
            dtype=7,  # DT_STRING
            string_val=[markdown.encode()],
            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
        )
        self.summary(Summary.Value(tag=tag, metadata=meta, tensor=tensor), step)

    def plugin(self, tag: str, plugin: str, content: bytes, step: int = 0) -> None:
        """A plugin's own record (hparams, custom scalars): plugin data and an empty tensor."""
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin, content=content))
        self.summary(Summary.Value(tag=tag, metadata=meta, tensor=TensorProto(dtype=1)), step)

    def flush(self) -> None:
        """Encode the pending scalars and write every pending record in one call."""
        if self.scalars:
            add, templates = self.records.append, self.templates
            for tag, value, step, wall in self.scalars:
                template = templates.get(tag)
                if template is None:  # one event per tag, its three fields set per scalar (4x faster than new)
                    event = Event(summary=Summary(value=[Summary.Value(tag=tag, simple_value=0.0)]))
                    template = templates[tag] = (event, event.summary.value[0])
                event, proto = template
                event.wall_time, event.step, proto.simple_value = wall, step, value
                add(frame(event.SerializeToString()))
            self.scalars = []
        if self.records:
            data, self.records = b"".join(self.records), []
            self._write(data)

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.file.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.file.close()


class RunEvents:
    """What a run directory's event files hold, read as TensorBoard's ``EventAccumulator`` reads them
    (files in name order; a ``SessionLog.START`` at step s drops every point before it at step ≥ s:
    a resumed run's restart) but with the C CRC-32C: every scalar, and each tag's last image and last
    tensor (text).  ``simplenet plot`` and ``report`` read runs through this; tensorboard's own reader
    checksums every byte in Python (~100 µs per record)."""

    def __init__(self, run_dir: str | Path):
        self.scalars: dict[str, list[tuple[int, float]]] = {}
        self.images: dict[str, tuple[int, bytes]] = {}
        self.tensors: dict[str, tuple[int, TensorProto]] = {}
        self.damaged: list[str] = []  # "file: what", for each file whose reading stopped at a bad record
        for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
            for event in read_events(path, self.damaged):
                self._add(event)

    def _add(self, event: Event) -> None:
        what = event.WhichOneof("what")
        if what == "session_log" and event.session_log.status == SessionLog.START:
            keep = event.step
            self.scalars = {tag: [p for p in points if p[0] < keep] for tag, points in self.scalars.items()}
            self.images = {tag: v for tag, v in self.images.items() if v[0] < keep}
            self.tensors = {tag: v for tag, v in self.tensors.items() if v[0] < keep}
            return
        if what != "summary":
            return
        step = event.step
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                points = self.scalars.get(value.tag)
                if points is None:
                    points = self.scalars[value.tag] = []
                points.append((step, value.simple_value))
            elif kind == "image":
                self.images[value.tag] = (step, value.image.encoded_image_string)
            elif kind == "tensor":
                self.tensors[value.tag] = (step, value.tensor)


def read_events(path: str | Path, damaged: list[str] | None = None):
    """The events of one file, each record's length and data checked against their CRCs.  A record cut
    short or failing its CRC ends the file, as it does for TensorBoard (which skips the rest of it);
    ``damaged`` gets a line saying where."""
    data = Path(path).read_bytes()
    pos, end = 0, len(data)
    while pos < end:
        header = data[pos : pos + 8]
        body_end = pos + 12 + (struct.unpack_from("<Q", data, pos)[0] if len(header) == 8 else 0)
        problem = None
        if pos + 12 > end or body_end + 4 > end:
            problem = "a record cut short (a writer stopped mid-write)"
        elif struct.unpack_from("<I", data, pos + 8)[0] != masked_crc(header):
            problem = "a record whose length fails its CRC-32C"
        elif struct.unpack_from("<I", data, body_end)[0] != masked_crc(data[pos + 12 : body_end]):
            problem = "a record whose data fails its CRC-32C"
        if problem:
            if damaged is not None:
                damaged.append(f"{path}: {problem} at byte {pos}; read up to it, as TensorBoard reads it")
            return
        yield Event.FromString(data[pos + 12 : body_end])
        pos = body_end + 4
