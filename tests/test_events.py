"""compare.events: the torch-free writer's records are what tensorboard's own classes and reader make of them."""

from __future__ import annotations

import struct

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary

from compare import events
from compare.events import EventWriter, frame, masked_crc


def fresh(tag, value, step, wall) -> bytes:
    return Event(
        wall_time=wall, step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    ).SerializeToString()


def test_reused_scalar_events_are_byte_for_byte_new_ones(tmp_path):
    """Each tag's event is reused with its fields set per scalar; the bytes must be those of a new event,
    including steps and values at their defaults (0), which protobuf does not write."""
    points = [("curves/loss", 2.5, 0), ("curves/loss", 0.0, 1), ("lr", 0.05, 7)]
    points += [("curves/loss", 1.25, 2**40), ("lr", -3.0, 0), ("curves/loss", 2.5, 3)]
    w = EventWriter(tmp_path)
    start = w.path.stat().st_size
    for p in points:
        w.scalar(*p)
    points = list(w.scalars)  # (tag, value, step, wall time) as buffered
    assert len(points) == 6
    w.close()
    data = w.path.read_bytes()[start:]
    assert data == b"".join(frame(fresh(*p)) for p in points)


def test_frames_are_tfrecords_whatever_the_length(tmp_path):
    """The cached length headers: every frame's length and both CRCs are right, for lengths seen before
    and new ones, checked by hand and by tensorboard's own reader."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    w = EventWriter(tmp_path)
    tags = [f"t{'x' * k}" for k in range(0, 300, 7)]
    for i, tag in enumerate(tags * 2):
        w.scalar(tag, float(i), i)
    w.close()
    data, pos, n = w.path.read_bytes(), 0, 0
    while pos < len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[pos + 8 : pos + 12])[0] == masked_crc(header)
        body = data[pos + 12 : pos + 12 + length]
        assert struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])[0] == masked_crc(body)
        pos, n = pos + 16 + length, n + 1
    assert pos == len(data) and n == 1 + 2 * len(tags)
    read = [e for e in EventFileLoader(str(w.path)).Load() if e.HasField("summary")]
    assert [(e.summary.value[0].tag, e.step) for e in read] == [(t, i) for i, t in enumerate(tags * 2)]
    assert events._HEADERS  # the cache was used
