"""Many submissions' checks from one warm process: this one imports NumPy, torch and the judge once, and
forks a child per check - with the submission's scratch copy as its working directory and on ``sys.path``,
an address-space cap (``RLIMIT_AS``) and its own process group - that runs the check and writes its result
to a pipe.  ``--jobs`` children run at once.  A child that exits, crashes, hangs past ``--timeout`` or runs
out of memory costs that one check, with the reason; the run goes on."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from compare.grade.checks import Check


@dataclass
class Task:
    student: str
    folder: Path
    check: Check
    pid: int = 0
    fd: int = -1
    started: float = 0.0
    data: bytearray = field(default_factory=bytearray)
    result: dict | None = None
    beacon: object = None  # the child's supervisor beacon: which learner code it was in


def warm() -> None:
    """Everything a check imports, imported once here so that each child starts at once; no torch
    computation runs in this process (a fork after one could deadlock the child's thread pool)."""
    import numpy.ma  # noqa: F401 - np.median's first call imports it (layercheck's dropout statistics)
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401 - torch.optim's first step imports it (and sympy): 1 s a child otherwise
    import torch.nn.functional  # noqa: F401
    import torch.optim  # noqa: F401

    import compare.api  # noqa: F401
    import compare.gradcheck  # noqa: F401
    import compare.layercheck  # noqa: F401
    import compare.optimcheck  # noqa: F401
    import manual.train  # noqa: F401


def run_all(tasks: list[Task], *, jobs: int, timeout: float, memory_gib: float, scratch: Path, done) -> None:
    """Run every task, ``jobs`` at a time; ``done(task)`` is called as each one ends."""
    waiting, running, exiting = list(tasks), {}, []
    try:
        while waiting or running:
            exiting[:] = [pid for pid in exiting if not reaped(pid)]
            while waiting and len(running) < jobs:
                task = waiting.pop(0)
                start(task, memory_gib, scratch)
                running[task.fd] = task
            ready, _, _ = select.select(list(running), [], [], 0.1)
            for fd in ready:
                task = running[fd]
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    task.data += chunk
                    continue
                del running[fd]
                finish(task, exiting)
                done(task)
            now = time.monotonic()
            for fd, task in list(running.items()):
                if now - task.started > timeout:
                    del running[fd]
                    kill(task)
                    task.result = failure(
                        task.check,
                        f"did not finish within --timeout {timeout:g} s{phase(task)} (a hang, or an endless loop); it was stopped",
                    )
                    done(task)
    finally:
        for task in running.values():
            kill(task)
        for pid in exiting:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def reaped(pid: int) -> bool:
    """A child that had written its result and was left to exit: gone (and reaped) yet?"""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def start(task: Task, memory_gib: float, scratch: Path) -> None:
    folder = scratch / task.student
    if not folder.exists():
        shutil.copytree(task.folder, folder, symlinks=True)
    from compare import supervisor

    r, w = os.pipe()
    task.started = time.monotonic()
    task.beacon = supervisor.Beacon.shared()
    pid = os.fork()
    if pid == 0:  # the child: one check, then out
        code = 0
        try:
            supervisor.BEACON.buf, supervisor.BEACON._phase, supervisor.BEACON.depth = task.beacon.buf, None, 0
            os.close(r)
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            cap(memory_gib)
            os.chdir(folder)
            sys.path.insert(0, str(folder))
            result = child(task.check, folder)
            with os.fdopen(w, "w") as out:
                json.dump(result, out)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(w)
    task.pid, task.fd = pid, r


def child(check: Check, folder: Path) -> dict:
    """The check's result, or the one line that says why it has none (our errors name the student's line)."""
    from compare.errors import SimplenetError
    from compare.grade.execute import run

    try:
        import torch

        torch.set_num_threads(1)
        return run(check, folder)
    except SimplenetError as e:
        return failure(check, str(e).replace(f"{folder}/", ""))
    except MemoryError:
        return failure(check, "ran out of memory (the --memory cap): an allocation without bound")
    except RecursionError:
        return failure(check, "recursed without end (RecursionError)")


def cap(memory_gib: float) -> None:
    """RLIMIT_AS at what this process already maps plus ``memory_gib`` (torch alone maps gigabytes)."""
    import resource

    if not memory_gib:
        return
    mapped = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    limit = mapped + int(memory_gib * 2**30)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def finish(task: Task, exiting: list[int]) -> None:
    """The child closed its pipe.  With its result written, it is only exiting: its process group is
    killed (whatever the student's code started) and it is reaped later, while the next check runs (a
    forked copy of torch's process takes ~10 ms to tear down).  Without one, how it ended is the reason."""
    os.close(task.fd)
    try:
        task.result = json.loads(task.data.decode()) if task.data else None
    except ValueError:
        task.result = None
    if task.result is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(task.pid, signal.SIGKILL)
        exiting.append(task.pid)
        return
    _, status = os.waitpid(task.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(task.pid, signal.SIGKILL)  # whatever the student's code started
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
    if code == -signal.SIGKILL:
        how += " (most often the system's out-of-memory killer)"
    task.result = failure(
        task.check,
        f"the student's code ended the check's process{phase(task)}: it {how} (os._exit, sys.exit, a crash)",
    )


def phase(task: Task) -> str:
    """ " in layers: relu_forward" - the learner code the child was in, from its beacon."""
    b = task.beacon.read() if task.beacon is not None else {}
    return f" in {b['phase']}" if b.get("depth", 0) > 0 and b.get("phase") else ""


def kill(task: Task) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(task.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(task.pid, 0)
    with contextlib.suppress(OSError):
        os.close(task.fd)


def failure(check: Check, reason: str) -> dict:
    return {
        "passed": False,
        "score": 0.0,
        "output": f"**No verdict**: {reason}",
        "tags": ["no-verdict"],
        "error": reason,
    }
