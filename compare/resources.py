"""What the machine must give a run, checked before anything big is loaded or written.

* ``probe_writable``: a directory the run will write (``--logdir``, ``--checkpoint-dir``) can be
  created there - tried with a probe directory that is removed at once, so nothing is left behind;
* ``memory_needed`` / ``check_memory``: parameters, gradients, optimizer state, the dataset in the
  run's dtype and the largest activation batch, against the memory the OS says is available;
* ``os_error_line``: any ``OSError`` as one line naming the path and what to do.
"""

from __future__ import annotations

import errno
import gzip
import os
from pathlib import Path

from compare.config import ModelSpec, state_buffers
from compare.datasets import IMAGE_MAGIC
from compare.errors import ConfigError, ResourceError

GiB = 1024**3
DEFAULT_COUNTS = (60000, 10000)  # MNIST, when the files are not there yet (they will be downloaded)


def os_error_line(e: OSError, what: str = "") -> str:
    """``OSError`` → 'cannot write PATH: No space left on device; free space or …'."""
    path = e.filename if e.filename is not None else what or "?"
    reason = e.strerror or str(e) or type(e).__name__
    hint = {
        errno.ENOSPC: "free disk space, or point --logdir / --checkpoint-dir at another disk",
        errno.EDQUOT: "the disk quota is used up: free space or use another disk",
        errno.EACCES: "choose a directory you can write (--logdir / --checkpoint-dir / --json)",
        errno.EPERM: "choose a directory you can write (--logdir / --checkpoint-dir / --json)",
        errno.EROFS: "the file system is read-only: choose a writable directory",
        errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
        errno.ENOENT: "a part of the path does not exist and cannot be made: choose another path",
        errno.ENAMETOOLONG: "the path is too long: choose a shorter one",
    }.get(e.errno, "check the path and the disk")
    return f"{what + ': ' if what and what != path else ''}{path}: {reason}; {hint}"


def probe_writable(path: str | Path, flag: str) -> None:
    """Can a directory be made at (or under) ``path``? Tried for real in its nearest existing
    ancestor with a probe directory that is removed at once (permissions alone do not tell root,
    /proc or a read-only mount apart)."""
    path = Path(path)
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise ConfigError(f"{flag} {path}: {ancestor} is a file, not a directory; choose another path")
    probe = ancestor / f".simplenet-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as e:
        raise ConfigError(
            f"{flag} {path}: cannot create anything in {ancestor} ({e.strerror or e}); choose a writable directory"
        ) from None


def dataset_counts(paths: dict[str, Path | None]) -> tuple[int, int]:
    """(train, test) image counts from the IDX headers alone (8 bytes each), MNIST's when absent."""
    counts = []
    for name, default in zip(("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"), DEFAULT_COUNTS):
        path = paths.get(name)
        try:
            opener = gzip.open if path is not None and path.suffix == ".gz" else open
            with opener(path, "rb") as f:
                head = f.read(8)
            # only a header with the images' magic number says how many there are; a damaged one is the
            # data reader's to report (one line, exit 2), never a memory estimate from garbage
            valid = len(head) == 8 and int.from_bytes(head[:4], "big") == IMAGE_MAGIC
            counts.append(int.from_bytes(head[4:8], "big") if valid else default)
        except (OSError, TypeError, EOFError):
            counts.append(default)
    return counts[0], counts[1]


def memory_needed(
    spec: ModelSpec,
    *,
    dtype: str,
    batch_size: int,
    eval_batch_size: int,
    optimizer: str,
    momentum: float,
    amsgrad: bool,
    n_train: int,
    n_test: int,
    twins: int,
    centered: bool = False,
    device_twins: int = 0,
) -> dict[str, int]:
    """Bytes the run holds at its peak, by part. ``device_twins`` of the ``twins`` keep their share on
    an accelerator (counted there, not here)."""
    item = 8 if dtype == "float64" else 4
    sizes = [spec.in_features, *spec.hidden, spec.out_features]
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    state = state_buffers(optimizer, momentum=momentum, amsgrad=amsgrad, centered=centered)
    host = twins - device_twins
    # the batches the run will really use: never more than the data set holds
    widest = max(min(batch_size, max(n_train, 1)), min(eval_batch_size, max(n_test, 1)))
    return {
        "parameters, gradients and optimizer state": host * params * item * (2 + state) + params * 8,
        "dataset": twins * (n_train + n_test) * spec.in_features + host * (n_train + n_test) * spec.in_features * item,
        "activations": host * widest * sum(sizes) * item * 3,
    }


def available_memory() -> int | None:
    """Bytes the OS says a new allocation can get (Linux MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(parts: dict[str, int], available: int | None = None) -> None:
    available = available_memory() if available is None else available
    need = sum(parts.values())
    if available is not None and need > available:
        detail = ", ".join(f"{k} {v / GiB:.3g}" for k, v in parts.items())
        raise ResourceError(
            f"this run needs about {need / GiB:.3g} GiB of memory ({detail} GiB) but "
            f"{available / GiB:.3g} GiB is available; use a smaller --hidden, --batch-size or "
            "--eval-batch-size, or float32"
        )
