"""Past one process: the torch twin under PyTorch's own distributed engine.

``--nproc N`` relaunches the same command in N worker processes through torch's elastic launcher
(``torch.distributed.run``, the machinery behind ``torchrun``); a user may equally start
``torchrun --nproc-per-node N -m compare.cli …`` themselves - the CLI reads the launcher's
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``…).  Each worker joins one
process group (gloo on CPU, NCCL on CUDA with one device per rank) and wraps the torch twin in
``DistributedDataParallel``.

The single-process math, exactly: every global batch from the harness's permutation is split into
N contiguous shards, and shard r's mean loss is weighted by ``N·|shard_r| / B`` so that DDP's
average of the N gradients is the gradient of the mean over the whole batch, also when the last
batch does not divide evenly:

    (1/N) Σ_r N·|s_r|/B · (1/|s_r|) Σ_{i∈s_r} ∇ℓ_i  =  (1/B) Σ_i ∇ℓ_i.

Rank 0 alone writes TensorBoard, checkpoints, JSON and the console.
"""

from __future__ import annotations

import datetime
import gc
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

TIMEOUT = datetime.timedelta(seconds=45)  # a collective that waits longer means a rank is gone


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        return {"world_size": self.size, "backend": self.backend, "rank": self.rank}


SINGLE = World()


def from_environment() -> World | None:
    """The launcher's environment (torchrun or ``--nproc``), or None when not launched by one."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))


def shard(lo: int, hi: int, world: World) -> tuple[int, int]:
    """This rank's contiguous part [a, b) of the global batch [lo, hi) (the first ranks get one more)."""
    size = hi - lo
    base, extra = divmod(size, world.size)
    a = lo + world.rank * base + min(world.rank, extra)
    return a, a + base + (1 if world.rank < extra else 0)


def shard_weight(shard_size: int, batch_size: int, world: World) -> float:
    """The factor on a shard's mean loss that makes DDP's gradient average the global batch mean."""
    return world.size * shard_size / batch_size


def init(world: World, device_type: str) -> World:
    """Join the process group: NCCL for CUDA (one device per rank), gloo otherwise."""
    import torch
    import torch.distributed as dist

    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=TIMEOUT)
    return World(world.rank, world.size, world.local_rank, backend)


def finish() -> None:
    """Leave the process group, the DistributedDataParallel wrapper gone first.

    The wrapper lives in reference cycles (its reducer holds the group and gloo's pending work), so
    only the cycle collector frees it - and ``compare.cli.main`` holds the collector back during
    start-up and freezes what it built (the wrapper included) for the training loop.  Left for the
    interpreter's exit, with the group destroyed under it, a worker aborted now and then ("terminate
    called without an active exception", SIGABRT; 1 run in 60 under load).  So: everything back to
    the collector and collected while the group and the interpreter are whole (0.3 s here), then the
    group destroyed, as torch's documentation asks."""
    import torch.distributed as dist

    gc.unfreeze()
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def die_with_parent(poll: float = 0.5, grace: float = 5.0) -> None:
    """A worker whose launcher is gone (kill -9 of ``--nproc``'s process, or of a user's torchrun) stops
    itself: SIGTERM (the run's own stop: every rank agrees on a step and rank 0 checkpoints), then
    SIGKILL ``grace`` seconds later if it is still alive - never a worker that runs on, holding its
    device, with nobody waiting for it."""
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def silence_followers(world: World) -> None:
    """One voice: ranks other than 0 print nothing (their errors are rank 0's too, or the launcher's)."""
    if not world.leader:
        devnull = open(os.devnull, "w")
        sys.stdout = devnull
        sys.stderr = devnull


HEARTBEAT = "SIMPLENET_HEARTBEAT_DIR"  # where each worker writes "<step> <time>" as it trains


_BEAT_FD: dict[int, int] = {}


def heartbeat(rank: int, step: int) -> None:
    """A worker's sign of life for the launcher's hang watch (``launch(step_timeout=…)``): the last step
    it finished and when, written in place into one small file (one pwrite, a few µs, every step)."""
    folder = os.environ.get(HEARTBEAT)
    if not folder:
        return
    fd = _BEAT_FD.get(rank)
    if fd is None:
        fd = _BEAT_FD[rank] = os.open(os.path.join(folder, f"rank-{rank}"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(fd, f"{step:>12d} {time.time():>20.6f}\n".encode(), 0)


class HangWatch:
    """In the launcher: a rank whose heartbeat is older than ``timeout`` seconds has hung (a step that
    never ends, a collective that waits for it); its workers are stopped and the hang is named, instead
    of the launcher reporting the kill that followed."""

    def __init__(self, timeout: float, nproc: int):
        import tempfile
        import threading

        self.timeout, self.nproc, self.message = timeout, nproc, None
        self.folder = tempfile.mkdtemp(prefix="simplenet-heartbeat-")
        os.environ[HEARTBEAT] = self.folder
        self.done = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="hang-watch").start()

    def _read(self) -> dict[int, tuple[int, float]]:
        beats = {}
        for rank in range(self.nproc):
            try:
                with open(os.path.join(self.folder, f"rank-{rank}")) as f:
                    step, at = f.read().split()
                beats[rank] = (int(step), float(at))
            except (OSError, ValueError):
                continue
        return beats

    def _watch(self) -> None:
        while not self.done.wait(0.5):
            beats = self._read()
            stale = {r: b for r, b in beats.items() if time.time() - b[1] > self.timeout}
            if stale:
                rank, (step, at) = min(stale.items(), key=lambda kv: (kv[1][1], kv[0]))
                self.message = (
                    f"rank {rank} of {self.nproc} made no progress for {time.time() - at:.0f} s after "
                    f"step {step} (--step-timeout {self.timeout:g}); the workers were stopped"
                )
                subprocess.run(["pkill", "-KILL", "-P", str(os.getpid())], check=False)
                return

    def close(self) -> None:
        import shutil

        self.done.set()
        shutil.rmtree(self.folder, ignore_errors=True)
        os.environ.pop(HEARTBEAT, None)


def launch(argv: list[str], nproc: int, step_timeout: float | None = None) -> int:
    """Run ``simplenet <argv>`` in ``nproc`` workers through torch's elastic launcher and return rank 0's
    exit code; a rank that dies ends the run with one line naming it, and one that hangs (no step for
    ``step_timeout`` seconds) with one line naming the hang (exit 4)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    watch = HangWatch(step_timeout, nproc) if step_timeout else None
    try:
        return _launch(argv, nproc, watch, ChildFailedError, LaunchConfig, elastic_launch)
    finally:
        if watch is not None:
            watch.close()


def _launch(argv, nproc, watch, ChildFailedError, LaunchConfig, elastic_launch) -> int:

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"simplenet-{os.getpid()}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.2,
    )
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the run speaks for itself

    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "compare.cli", *argv)
    except SignalException as e:  # SIGINT/SIGTERM: the workers got it too, agreed on a step, saved
        return 128 + int(e.sigval)
    except ChildFailedError as e:
        if watch is not None and watch.message:
            print(f"simplenet: error: {watch.message}", file=sys.stderr)
            return 4
        failures = e.failures
        stopped = (-signal.SIGTERM,)  # what the agent does to the others
        if (
            0 in failures
            and failures[0].exitcode > 0
            and all(f.exitcode > 0 or f.exitcode in stopped for r, f in failures.items() if r != 0)
        ):
            return failures[0].exitcode  # rank 0's own verdict (1, 2, 3, 4, 130, 143)
        # the first to fail, not the survivors the agent then stopped (SIGTERM) or that lost contact (4)
        rank, failure = min(
            failures.items(), key=lambda kv: (kv[1].exitcode in (-signal.SIGTERM, 4), kv[1].timestamp, kv[0])
        )
        how = (
            f"was killed by signal {-failure.exitcode}"
            if failure.exitcode < 0
            else f"exited with code {failure.exitcode}"
        )
        print(
            f"simplenet: error: rank {rank} of {nproc} {how}; the other ranks were stopped "
            "(see the lines above for its own message, if any)",
            file=sys.stderr,
        )
        return 4
    return 0


def allreduce_seconds(numel: int, dtype, device, repeats: int = 30) -> float:
    """Median time of one all-reduce of ``numel`` values (a step's gradients) across the ranks."""
    import statistics
    import time

    import torch
    import torch.distributed as dist

    t = torch.zeros(numel, dtype=dtype, device=device)
    dist.all_reduce(t)
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        dist.all_reduce(t)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
