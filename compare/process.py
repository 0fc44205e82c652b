"""The process around a command: its streams, signals, garbage collector and DDP launch, the paths it
writes, and how a failure of the machine becomes one line.  Nothing here knows argparse: the CLI
passes plain values."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from pathlib import Path

from compare.errors import ConfigError, ResourceError, SimplenetError


def write_file(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path``; a failure (disk full, unwritable) is one line naming the path (exit 4)."""
    from compare.resources import os_error_line

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    except OSError as e:
        e.filename = e.filename or str(path)
        raise ResourceError(os_error_line(e)) from None


def write_json(path: str | None, payload: dict) -> None:
    if path:
        write_file(path, json.dumps(payload, indent=2, default=float) + "\n")


def resource_error_line(e: BaseException) -> str | None:
    """One line for a failure of the machine (exit 4) that is not ours to raise (an OSError, a failed
    allocation in NumPy or torch), or None if ``e`` is not one."""
    from compare.resources import os_error_line

    if isinstance(e, OSError):
        stream = getattr(e, "stream", None)
        if stream is not None:
            return (
                f"writing to {stream}: {e.strerror or e}; send the output somewhere with room "
                "(a file on another disk), or use --quiet / --json"
            )
        return os_error_line(e)
    if isinstance(e, MemoryError):
        return (
            f"out of memory ({' '.join(str(e).split()) or 'an allocation failed'}); use a smaller --hidden, "
            "--batch-size or --eval-batch-size, or float32"
        )
    torch = sys.modules.get("torch")
    if (
        torch is not None
        and isinstance(e, getattr(torch, "OutOfMemoryError", ()))
        or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))
    ):
        return (
            f"out of memory ({' '.join(str(e).split())[:160]}); use a smaller --hidden, --batch-size or "
            "--eval-batch-size, or float32"
        )
    return None


@contextlib.contextmanager
def write_failure(path):
    """An OSError while writing ``path`` becomes one ResourceError line naming it (exit 4)."""
    from compare.resources import os_error_line

    try:
        yield
    except OSError as e:
        raise ResourceError(os_error_line(e, str(path))) from None


def progress_bar():
    """tqdm's bar class: a widget in Jupyter when ipywidgets is installed, else text (tqdm.auto would warn
    "IProgress not found" in a notebook without it, and fall back to text anyway)."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


def program(name: str) -> str:
    """How to run ``name`` from the user's shell: its bare name when it is on PATH, else its path in this
    environment's bin (scripts/run.sh puts .venv/bin on PATH only while it runs)."""
    import shutil

    here = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found or not here.exists():
        return name
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


class Guarded:
    """Standard output as it was, but a failed write (a full disk behind a redirection, a closed pipe)
    is marked as the stream's, so that it is reported as that and not as a file of the run's."""

    def __init__(self, stream, name: str):
        self._stream, self._name = stream, name

    def _marked(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            e.stream = self._name
            try:  # later flushes (at exit) go nowhere instead of failing again
                os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            raise

    def write(self, text):
        return self._marked(self._stream.write, text)

    def flush(self):
        return self._marked(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def check_json_path(path: str | None) -> None:
    """--json must name a file in a writable directory: refused before any training, not after."""
    if not path:
        return
    from compare.resources import probe_writable

    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--json {path}: is a directory; give a file path, e.g. {target / 'results.json'}")
    if not target.parent.exists():
        raise ConfigError(f"--json {path}: the directory {target.parent} does not exist")
    probe_writable(target.parent, "--json")


def check_nproc(nproc: int, device: str = "cpu", force: bool = False) -> None:
    """Before any worker is spawned: cores (CPU), devices (CUDA) and memory for N processes."""
    from compare import resources

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device == "cuda" or (device == "auto" and nproc > 1 and cuda_count() > 0):
        have = cuda_count()
        if nproc > have:
            raise ConfigError(f"--nproc {nproc}: this machine has {have} CUDA device(s), one per process is needed")
    elif nproc > cores and not force:
        raise ConfigError(
            f"--nproc {nproc}: this machine has {cores} cores for {nproc} CPU processes, which would "
            "only share them; use at most {cores}, or add --force".replace("{cores}", str(cores))
        )
    per_process = 600 * 2**20  # a worker's resident size with torch loaded and a default run (measured ~0.5 GB)
    available = resources.available_memory()
    if available is not None and nproc * per_process > available:
        raise ConfigError(
            f"--nproc {nproc}: {nproc} processes need about {nproc * per_process / 2**30:.1f} GiB of "
            f"memory, {available / 2**30:.1f} GiB is available; use fewer"
        )


def cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def distributed_start(
    command: str,
    argv: list[str],
    *,
    impl: str | None = None,
    nproc: int = 1,
    device: str = "cpu",
    force: bool = False,
    step_timeout: float | None = None,
):
    """(exit code, None) when this process launched workers and is done; (None, world) otherwise.

    Launched by ``--nproc N`` or by a user's own ``torchrun`` (the launcher's environment), a worker
    joins its process group later, once its device is known."""
    from compare import distributed

    world = distributed.from_environment()
    wants = nproc > 1 or (world is not None and world.size > 1)
    if wants and (command == "train" and impl != "torch"):
        raise ConfigError(
            "--nproc runs the torch twin under DDP; use it with train --impl torch, compare or "
            "gradcheck (the manual twin is one process, in rank 0)"
        )
    if wants and command not in ("train", "compare", "gradcheck"):
        raise ConfigError(f"--nproc applies to train --impl torch, compare and gradcheck, not {command}")
    if world is None and nproc > 1:
        check_nproc(nproc, device, force)
        start_up_done()  # this process only waits on its workers now, for as long as they run
        return distributed.launch(argv, nproc, step_timeout), None
    if world is not None and world.size > 1:
        distributed.die_with_parent()
        distributed.silence_followers(world)
        return None, world
    return None, None


def peer_lost_line(e: BaseException, world) -> str | None:
    """Under DDP, a collective that fails because another rank is gone: one line, exit 4."""
    dist = sys.modules.get("torch.distributed")
    if world is None or dist is None or not isinstance(e, RuntimeError):
        return None
    if (
        isinstance(e, getattr(dist, "DistError", ()))
        or "gloo" in str(e).lower()
        or "nccl" in str(e).lower()
        or "Connection closed" in str(e)
        or "timed out" in str(e).lower()
    ):
        return (
            f"rank {world.rank}: lost contact with the other ranks ({' '.join(str(e).split())[:120]}); "
            "one of them stopped - see its line"
        )
    return None


def start_up_done() -> None:
    """The command's modules are loaded and its twins built: if main() held the cycle collector back,
    those objects go to the permanent generation and collection resumes for the long part."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def as_error(e: BaseException, world=None) -> SimplenetError | None:
    """``e`` as the judge reports it: itself when it is one of ours; a ``ResourceError`` (exit 4) for a
    failure of the machine raised by the system, NumPy or torch (a full disk, a failed allocation, a
    DDP peer that is gone); None for anything else, which is a bug of ours and keeps its traceback."""
    if isinstance(e, SimplenetError):
        return e
    line = resource_error_line(e) or peer_lost_line(e, world)
    return ResourceError(line) if line is not None else None


def command_process(argv: list[str] | None, run) -> int:
    """``run(argv)`` as a command of this process: SIGINT counted, standard output guarded, and Ctrl-C
    between steps ending in one line and 130.  When ``argv`` is None (the process's own command line:
    console script, ``python -m``, DDP workers) the command runs in a worker under the supervisor, which
    holds the verdict (compare.supervisor), with the cycle collector held back during start-up."""
    if argv is not None:
        return guarded(argv, run)
    from compare.supervisor import supervise

    return supervise((sys.argv[1:2] or ["?"])[0], lambda: owned_process(run))


def owned_process(run) -> int:
    # Start-up: importing torch makes about a million objects and no garbage, yet set off ~770
    # collections (0.5 s, a sixth of the import).  Collection resumes, with those objects frozen,
    # once the twins are built or workers launched (start_up_done); gradcheck and plot are over
    # by then.
    gc.disable()
    code = guarded(None, run)
    # The process exits next; the system takes its memory back.  With torch loaded, the
    # collections of the interpreter's shutdown took 1.0-1.3 s (0.3 s frozen).  Everything the
    # run wrote is closed by now.  Tests that call main(argv) are not affected by either.
    gc.freeze()
    return code


def guarded(argv: list[str] | None, run) -> int:
    from compare.supervisor import install_sigint

    install_sigint()
    command = (argv if argv is not None else sys.argv[1:])[:1] or ["?"]
    stdout, sys.stdout = sys.stdout, Guarded(sys.stdout, "standard output")
    try:
        code = run(argv)
        sys.stdout.flush()
        return code
    except OSError as e:  # the stream itself failed (after the command was done)
        if getattr(e, "stream", None) is None:
            raise
        print(f"simplenet {command[0]}: error: {resource_error_line(e)}", file=sys.stderr)
        return ResourceError.exit_code
    except KeyboardInterrupt:
        print(f"simplenet {command[0]}: interrupted (Ctrl-C); what was already written is kept", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout
