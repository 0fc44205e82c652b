"""The supervisor: the small parent process that holds a command's verdict, and every signal rule.

``simplenet`` started from a shell forks first thing (``supervise``).  The worker runs the command; the
parent, which imports neither torch nor any learner code, only waits.  The two share one page of
memory, the *beacon*, in which the worker keeps what the parent needs to know when things go wrong:
the learner code it is in (a plug-in's backward, an update rule's step) and how deep, the training
step and when it began, where its ``--json`` and results go, its last checkpoint, its ``--stop-grace``
and ``--step-timeout``, and at the end its verdict (the exit code).  So:

* a worker that ends without a verdict (``os._exit`` or ``sys.exit`` in learner code, a segfault, the
  out-of-memory killer) is one line naming the phase, exit 2 (4 for SIGKILL: most often memory), and
  ``--json`` and the run's results.json record the failure;
* a step past ``--step-timeout`` that the worker's own watchdog could not stop (a bare ``except:`` loop
  swallows it) ends with the worker and its descendants killed: exit 4;
* SIGINT/SIGTERM reach the worker (forwarded when it did not get them itself), and a worker still in
  learner code ``--stop-grace`` seconds later is killed: exit 130/143.  Checkpoints are atomic, so a
  kill loses nothing already saved.

The worker's side lives here too: the beacon's writers, the SIGINT handler of a command's process, and
``StopRequest``, through which the training loop stops between steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import sys
import threading
import time
from pathlib import Path

from compare.errors import SIGNALS, StepAbandoned

ENV = "SIMPLENET_SUPERVISED"  # set in the worker: its descendants (DDP ranks, subprocesses) are not supervised again
SLACK = 0.5  # seconds the worker's own stop (its watchdog, its grace thread) gets before the kill
FINISHING = 30.0  # seconds a worker outside learner code gets after --stop-grace (a checkpoint being written)
NO_VERDICT = -1
CRASHED = -2  # a bug of ours: Python printed the traceback, the exit status is passed on
SI_KERNEL = 0x80  # si_code of a signal the terminal sent to its foreground process group


# --- the beacon -------------------------------------------------------------------------------
class Beacon:
    """One page both processes see (``shared``), or a private one (a command run inside another
    process: the API, the tests' ``main(argv)``), so the writers cost the same either way."""

    HEAD = struct.Struct("<iiqdiidd")  # verdict, in_step, step, step_started, depth, pad, grace, step_timeout
    TEXTS = {"phase": 64, "json": 576, "results": 1600, "checkpoint": 2624}
    TEXT_MAX = 1020
    SIZE = 4096

    INT = struct.Struct("<i")

    def __init__(self, buffer=None):
        self.buf = buffer if buffer is not None else bytearray(self.SIZE)
        self.HEAD.pack_into(self.buf, 0, NO_VERDICT, 0, 0, 0.0, 0, 0, 5.0, 0.0)
        self._phase, self.depth = None, 0

    @classmethod
    def shared(cls) -> Beacon:
        import mmap

        return cls(mmap.mmap(-1, cls.SIZE))

    # the worker's writers
    def _text(self, key: str, value: str) -> None:
        data = value.encode("utf-8", "replace")[: self.TEXT_MAX]
        at = self.TEXTS[key]
        struct.pack_into("<H", self.buf, at, len(data))
        self.buf[at + 2 : at + 2 + len(data)] = data

    def enter(self, phase: str) -> None:
        """Learner code begins (calls nest: a factory's import runs the plug-in's module code)."""
        if phase != self._phase:
            self._phase = phase
            self._text("phase", phase)
        self.depth += 1
        self.INT.pack_into(self.buf, 24, self.depth)

    def leave(self) -> None:
        self.depth -= 1
        self.INT.pack_into(self.buf, 24, self.depth)

    @contextlib.contextmanager
    def learner(self, phase: str):
        self.enter(phase)
        try:
            yield
        except SystemExit:  # the process is ending in learner code: the parent must read it so
            raise
        except BaseException:
            self.leave()
            raise
        self.leave()

    def begin_step(self, step: int) -> None:
        struct.pack_into("<iqd", self.buf, 4, 1, step, time.monotonic())

    def end_step(self) -> None:
        struct.pack_into("<i", self.buf, 4, 0)

    def tell(self, **texts: str) -> None:
        """Where the worker's --json, results.json and last checkpoint are (for a failure record)."""
        for key, value in texts.items():
            self._text(key, str(value))

    def limits(self, grace: float | None, step_timeout: float | None) -> None:
        struct.pack_into("<dd", self.buf, 32, 5.0 if grace is None else float(grace), float(step_timeout or 0.0))

    def verdict(self, code: int) -> None:
        struct.pack_into("<i", self.buf, 0, int(code))

    # the parent's readers
    def read(self) -> dict:
        verdict, in_step, step, started, depth, _, grace, step_timeout = self.HEAD.unpack_from(self.buf, 0)
        out = dict(verdict=verdict, in_step=bool(in_step), step=step, step_started=started, depth=depth, grace=grace)
        out["step_timeout"] = step_timeout or None
        for key, at in self.TEXTS.items():
            (n,) = struct.unpack_from("<H", self.buf, at)
            out[key] = bytes(self.buf[at + 2 : at + 2 + n]).decode("utf-8", "replace") if n else None
        return out


BEACON = Beacon()  # the worker's (shared with its parent when supervised)


def learner(phase: str):
    """``with supervisor.learner("plug-in x.py:make: backward"):`` around every call into learner code."""
    return BEACON.learner(phase)


# --- the parent -------------------------------------------------------------------------------
def supervise(command: str, work) -> int:
    """``work()`` (the command; it returns the exit code) in a forked worker, this process holding the
    verdict.  Without fork, or inside a supervised worker already, ``work()`` runs here."""
    if os.environ.get(ENV) or not hasattr(os, "fork") or not hasattr(signal, "sigtimedwait"):
        return finish(work)
    beacon = Beacon.shared()
    watched = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
    ignore_int = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a background job: SIGINT is not ours
    woke_r, woke_w = os.pipe()  # the worker's C-level signal handler writes each signal's number here
    for fd in (woke_r, woke_w):
        os.set_blocking(fd, False)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    become_subreaper()
    sys.stdout.flush(), sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the worker
        die_with(parent)
        os.close(woke_r)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.environ[ENV] = "1"
        BEACON.buf, BEACON._phase, BEACON.depth = beacon.buf, None, 0  # the object everyone imported, now shared
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(woke_w, warn_on_full_buffer=False)
        return finish(work)
    os.close(woke_w)
    try:
        code = Watch(pid, beacon, command, woke_r, ignore_int).run()
    finally:
        end_leftovers()
    # Nothing of the command ran here: the supervisor's exit need not tear down the interpreter it
    # imported numpy into (measured: that was most of the supervisor's cost), so it ends at once.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush(), sys.stderr.flush()
    os._exit(code)


def die_with(parent: int) -> None:
    """The worker is killed with its supervisor (a ``kill -9`` of the command is a kill of the command):
    Linux's parent-death signal; elsewhere nothing."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the signal was set
        os._exit(128 + signal.SIGKILL)


def finish(work) -> int:
    """Run the command and write its verdict into the beacon; a SystemExit or os._exit from learner code
    never gets here, which is how the parent knows."""
    try:
        code = work()
    except SystemExit:
        raise
    except BaseException:
        BEACON.verdict(CRASHED)
        raise
    BEACON.verdict(code)
    return code


class Watch:
    """The parent's loop: wait for the worker's end, a signal, or a deadline."""

    TICK = 0.05

    def __init__(self, pid: int, beacon: Beacon, command: str, woke: int, ignore_int: bool):
        self.pid, self.beacon, self.command, self.woke, self.ignore_int = pid, beacon, command, woke, ignore_int
        self.signum: int | None = None  # the first stop signal
        self.signalled_at = 0.0
        self.pending: list[tuple[float, int]] = []  # (when, signum) to forward unless the worker got it
        self.worker_got: set[int] = set()

    def run(self) -> int:
        watched = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
        while True:
            info = signal.sigtimedwait(watched, self.TICK)
            if info is not None and info.si_signo != signal.SIGCHLD:
                self.on_signal(info)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return self.ended(status)
            self.forward_pending()
            killed = self.enforce()
            if killed is not None:
                return killed

    # signals
    def on_signal(self, info) -> None:
        signum = info.si_signo
        if signum == signal.SIGINT and self.ignore_int:
            return
        if self.signum is None:
            self.signum, self.signalled_at = signum, time.monotonic()
        if info.si_code != SI_KERNEL:  # not the terminal's: the worker may not have it
            self.pending.append((time.monotonic() + 0.02, signum))

    def forward_pending(self) -> None:
        self.worker_got.update(self._drain_woke())
        now = time.monotonic()
        due = [(t, s) for t, s in self.pending if t <= now]
        self.pending = [(t, s) for t, s in self.pending if t > now]
        for _, signum in due:
            if signum in self.worker_got:  # sent to the whole group: the worker has it already
                self.worker_got.discard(signum)
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def _drain_woke(self) -> set[int]:
        got = set()
        with contextlib.suppress(BlockingIOError, OSError):
            while data := os.read(self.woke, 512):
                got.update(data)
        return got

    # deadlines
    def enforce(self) -> int | None:
        b = self.beacon.read()
        now = time.monotonic()
        in_learner = b["depth"] > 0 or b["in_step"]
        if b["step_timeout"] and b["in_step"] and now - b["step_started"] > b["step_timeout"] + SLACK:
            self.kill()
            return self.killed_line(
                b,
                4,
                f"step {b['step']} ran past --step-timeout {b['step_timeout']:g} s{self.phase(b, step=False)} and did not stop "
                "when asked, so it was killed",
            )
        if self.signum is not None:
            waited = now - self.signalled_at
            if waited > b["grace"] + (SLACK if in_learner else FINISHING):
                self.kill()
                name = signal.Signals(self.signum).name
                return self.killed_line(
                    b,
                    128 + self.signum,
                    f"it did not stop within --stop-grace {b['grace']:g} s of {name}{self.phase(b)}, so it was killed",
                )
        return None

    def kill(self) -> None:
        """SIGKILL the worker and every process below it (DDP ranks, anything learner code started)."""
        for pid in [self.pid, *descendants(self.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    # the end
    @staticmethod
    def phase(b: dict, step: bool = True) -> str:
        """Where the worker is: " in plug-in x.make: backward, step 12", " in a training step", or ""."""
        if b["depth"] > 0 and b["phase"]:
            where = f" in {b['phase']}"
        elif b["in_step"]:
            where = " in a training step"
        else:
            return ""
        return where + (f", step {b['step']}" if b["in_step"] and step else "")

    def ended(self, status: int) -> int:
        b = self.beacon.read()
        if b["verdict"] >= 0:
            return b["verdict"]
        code = os.waitstatus_to_exitcode(status)
        if b["verdict"] == CRASHED:  # our own bug: its traceback is printed, its status stands
            return code
        if code < 0 and self.signum is not None and -code == self.signum:  # stopped as asked (SIGTERM's default)
            name = signal.Signals(self.signum).name
            return self.killed_line(b, 128 + self.signum, f"it stopped on {name}{self.phase(b)}")
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if b["depth"] > 0 and b["phase"]:
            where = f" while in {b['phase']}" + (f", step {b['step']}" if b["in_step"] else "")
            advice = (
                "code the judge runs must return or raise an exception, never end or crash the process "
                "(os._exit, sys.exit, a fault in a C extension)"
            )
        else:
            where = " in the judge's own code" + (
                f" (the last learner code it ran: {b['phase']})" if b["phase"] else ""
            )
            advice = "please report this with the command line"
        exit_code = 2
        if code == -signal.SIGKILL:
            exit_code, advice = (
                4,
                "most often the system's out-of-memory killer: use a smaller --batch-size or --hidden",
            )
        return self.report(b, exit_code, f"the worker {how}{where} without reaching a verdict; {advice}")

    def killed_line(self, b: dict, exit_code: int, what: str) -> int:
        kept = f"; the last checkpoint is {b['checkpoint']}" if b["checkpoint"] else ""
        return self.report(b, exit_code, f"the worker was stopped: {what}{kept}")

    def report(self, b: dict, exit_code: int, line: str) -> int:
        """The one line, and the failure in --json and the run's results.json (whoever holds the verdict
        writes them)."""
        print(f"simplenet {self.command}: error: {line}", file=sys.stderr)
        record = failure_record(self.command, exit_code, line)
        for key in ("json", "results"):
            if b[key]:
                with contextlib.suppress(OSError):
                    Path(b[key]).write_text(json.dumps(record, indent=2) + "\n")
        return exit_code


def failure_record(command: str, exit_code: int, line: str) -> dict:
    """What --json and results.json hold when a command ends without a verdict of its own."""
    return {"command": command, "passed": False, "verdict": "ERROR", "exit_code": exit_code, "error": line}


def children(pid: int) -> list[int]:
    """Live children of ``pid`` (Linux's /proc; none elsewhere)."""
    out = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def become_subreaper() -> None:
    """Processes the worker leaves behind (a plug-in's own children, ranks of a launcher that died) are
    re-parented to the supervisor instead of init, so it can end them (Linux; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def end_leftovers() -> None:
    """SIGKILL whatever the worker left running below the supervisor, and wait until each is gone (a
    SIGKILL is delivered asynchronously): no process outlives the command."""
    left = descendants(os.getpid())
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    for pid in left:
        try:
            os.waitpid(pid, 0)  # re-parented to the supervisor (a subreaper): reaped here
        except ChildProcessError:  # not (yet) ours: wait for it to disappear
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


# --- the worker's signal handlers -------------------------------------------------------------
def count_sigint(signum, frame):
    """SIGINT as Python's default handler treats it (KeyboardInterrupt), counted, so that a plug-in
    raising KeyboardInterrupt itself is told from a real Ctrl-C (compare.plugins)."""
    SIGNALS.count += 1
    raise KeyboardInterrupt


def install_sigint() -> None:
    """Count SIGINT in a command's process (left alone where it is ignored or someone else's)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGINT, count_sigint)


class StopRequest:
    """SIGINT/SIGTERM ask the loop to stop after the current step; a second SIGINT stops at once.

    A step still running ``grace`` seconds after the first signal, or ``step_timeout`` seconds after it
    began, is abandoned (``StepAbandoned`` raised in the main thread).  Learner code that swallows that
    (a bare ``except:``) or ignores the signals is the supervisor's to kill."""

    CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self, hard_second_sigint: bool = True, grace: float | None = None, step_timeout: float | None = None):
        self.signum: int | None = None
        self._old = {}
        self.hard = hard_second_sigint  # not under DDP: a rank leaving mid-collective strands the others
        self.grace, self.step_timeout = grace, step_timeout
        self.steps_begun, self.in_step, self.step_started = 0, False, 0.0
        self.abandon: StepAbandoned | None = None
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()

    def _handle(self, signum, frame):
        if self.abandon is not None:  # our own signal: the step is given up (if it still runs)
            abandon, self.abandon = self.abandon, None
            if self.in_step:
                raise abandon
            return
        SIGNALS.count += 1
        if self.signum is not None and signum == signal.SIGINT and self.hard:
            raise KeyboardInterrupt
        first = self.signum is None
        self.signum = self.signum or signum
        if first and self.in_step and self.grace is not None:
            threading.Thread(
                target=self._give_up_after, args=(self.steps_begun, signum), daemon=True, name="stop-grace"
            ).start()

    def begin_step(self, step: int = 0) -> None:
        self.steps_begun += 1
        self.step_started, self.in_step = time.monotonic(), True
        BEACON.begin_step(step)

    def end_step(self) -> None:
        self.in_step = False
        BEACON.end_step()

    def _interrupt(self, abandon: StepAbandoned) -> None:
        self.abandon = abandon
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def _give_up_after(self, step: int, signum: int) -> None:
        if self._closed.wait(self.grace):
            return
        if self.in_step and self.steps_begun == step:
            name = signal.Signals(signum).name
            self._interrupt(
                StepAbandoned(f"the step did not finish within {self.grace:g} s of {name}", self.CODES[signum])
            )

    def _watch(self) -> None:
        period = min(1.0, self.step_timeout / 4)
        fired = 0
        while not self._closed.wait(period):
            if self.in_step and fired != self.steps_begun and time.monotonic() - self.step_started > self.step_timeout:
                fired = self.steps_begun
                self._interrupt(StepAbandoned(f"the step ran past --step-timeout {self.step_timeout:g} s", 4))

    def __enter__(self):
        BEACON.limits(self.grace, self.step_timeout)
        for s in self.CODES:
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        if self._old and self.step_timeout:
            self._watchdog = threading.Thread(target=self._watch, daemon=True, name="step-timeout")
            self._watchdog.start()
        return self

    def __exit__(self, *exc):
        self._closed.set()
        BEACON.end_step()
        for s, h in self._old.items():
            signal.signal(s, h)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def agree(self, device=None) -> bool:
        """Under DDP: a signal seen by any rank stops every rank after the same step (MAX all-reduce
        of the signal number, once per step)."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([self.signum or 0], dtype=torch.int64, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and self.signum is None:
            self.signum = int(flag.item())
        return self.requested
