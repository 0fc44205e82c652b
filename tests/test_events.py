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


def test_run_events_reads_a_run_as_tensorboard_does(tmp_path):
    """compare.events.RunEvents (plot and report read runs through it) against TensorBoard's own
    EventAccumulator on a run that was restarted from a checkpoint (a purge), with images and text,
    and a last record cut short by a kill."""
    import time

    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from compare.events import RunEvents
    from compare.tblog import RunLogger

    first = RunLogger(tmp_path)
    for step in range(1, 11):
        first.scalars({"curves/loss": 1.0 / step, "schedule/lr": 0.1}, step)
    first.image("pictures/x", np.full((4, 4, 3), 7, np.uint8), 5)
    first.image("pictures/x", np.full((4, 4, 3), 9, np.uint8), 10)
    first.markdown("how_to_read", "first", 1)
    first.writer.close()
    time.sleep(1.1)  # the restarted writer's file sorts after the first one (its start time, seconds)
    second = RunLogger(tmp_path, purge_step=6)  # resumed from the checkpoint at step 5
    for step in range(6, 13):
        second.scalars({"curves/loss": 2.0 / step}, step)
    second.image("pictures/x", np.full((4, 4, 3), 3, np.uint8), 8)
    second.writer.close()
    with open(second.writer.path, "ab") as f:  # a record cut short
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00abcd")

    ours = RunEvents(tmp_path)
    assert len(ours.damaged) == 1 and "cut short" in ours.damaged[0]
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    assert set(ours.scalars) == set(acc.Tags()["scalars"]) == {"curves/loss", "schedule/lr"}
    for tag in ours.scalars:
        assert ours.scalars[tag] == [(e.step, e.value) for e in acc.Scalars(tag)]
    assert [s for s, _ in ours.scalars["curves/loss"]] == list(range(1, 13))
    assert [s for s, _ in ours.scalars["schedule/lr"]] == [1, 2, 3, 4, 5]  # purged past the restart
    last = acc.Images("pictures/x")[-1]
    assert ours.images["pictures/x"] == (last.step, last.encoded_image_string) and last.step == 8
    assert ours.tensors["how_to_read/text_summary"][1].string_val == [b"first"]
