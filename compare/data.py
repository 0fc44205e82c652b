"""Where MNIST lives, fetching it when it is missing, and handing each twin its copy.

The data root is ``--data-dir``, else ``$SIMPLENET_DATA``, else ``./data``.  torchvision
fetches the files; each twin then reads them with its own reader.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from compare.datasets import DataError
from manual import data as manual_data

ENV_VAR = "SIMPLENET_DATA"


def resolve_root(data_dir: str | None) -> Path:
    return Path(data_dir or os.environ.get(ENV_VAR) or "data")


def ensure_mnist(root: Path, download: bool = True, dataset: str = "mnist") -> Path:
    """Make sure the four files of ``dataset`` are under ``root`` (either layout); fetch them with
    torchvision if not."""
    missing = [name for name, path in manual_data.locate_all(root, dataset).items() if path is None]
    if missing:
        if root.exists() and not root.is_dir():
            raise DataError(f"data directory {root} is a file, not a directory; {manual_data.hint(dataset)}")
        if not download:
            raise manual_data.not_found(root, missing[0], dataset)
        from torch_impl.data import download

        download(root, dataset)
    return root


def real_batch(
    root: Path, batch_size: int, seed: int, dtype: str, dataset: str = "mnist"
) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` training examples drawn without replacement by Generator(seed)."""
    images, labels = manual_data.load_split(root, "train", dataset)
    if not 1 <= batch_size <= len(images):
        raise DataError(f"--batch-size {batch_size} must lie in 1..{len(images)} for this data")
    idx = np.random.default_rng(seed).choice(len(images), batch_size, replace=False)
    return manual_data.normalize(images[idx], np.dtype(dtype), dataset), labels[idx]


def random_batch(
    batch_size: int, seed: int, dtype: str, in_features: int = 784, classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs and uniform labels, for checks that need no data; a batch that cannot fit
    in memory is one line (ResourceError, exit 4), from the CLI and the API alike."""
    from compare.errors import ResourceError
    from compare.process import resource_error_line

    rng = np.random.default_rng(seed)
    try:
        return rng.standard_normal((batch_size, in_features)).astype(dtype), rng.integers(0, classes, batch_size)
    except (MemoryError, ValueError) as e:  # NumPy: "array is too big" past the address space
        raise ResourceError(resource_error_line(MemoryError(str(e)))) from None


def fingerprint(root: Path, dataset: str = "mnist") -> dict[str, dict]:
    """What a checkpoint records of its data: each file's size and CRC-32 (zlib's, in C: ~30 ms for the
    47 MB training images), so that a resume on other or edited files is refused, naming the file."""
    out = {}
    for name, path in manual_data.locate_all(root, dataset).items():
        if path is None:
            continue
        crc = 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                crc = zlib.crc32(chunk, crc)
        out[name] = {"path": str(path.resolve()), "bytes": path.stat().st_size, "crc32": f"{crc:08x}"}
    return out


def fingerprint_change(recorded: dict, now: dict) -> str | None:
    """The first file whose size or contents differ from what the checkpoint recorded, in words."""
    for name, was in recorded.items():
        is_ = now.get(name)
        if is_ is None:
            return f"{name} is missing (the run used {was['path']})"
        if is_["bytes"] != was["bytes"]:
            return f"{is_['path']} has {is_['bytes']} bytes, the run's {was['path']} had {was['bytes']}"
        if is_["crc32"] != was["crc32"]:
            return f"{is_['path']} differs in content from the run's {was['path']} (CRC-32 {is_['crc32']}, was {was['crc32']})"
    return None


def caller_batch(function: str, x, y, in_features: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch the API's caller gave, checked before any plug-in sees it: x finite numbers with
    ``in_features`` per row, y one integer class label in 0..classes-1 per row.  A bad one is a
    ConfigError naming the argument and the first bad entry (never the plug-in's fault, never truncated)."""
    from compare.errors import ConfigError

    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{function}: x is not an array of numbers") from None
    if x.ndim == 0 or len(x) == 0:
        raise ConfigError(f"{function}: x has shape {x.shape}; give one row of {in_features} inputs per example")
    x = x.reshape(len(x), -1)
    if x.shape[1] != in_features:
        raise ConfigError(f"{function}: x has {x.shape[1]} inputs per example, the network takes {in_features}")
    if not np.isfinite(x).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ConfigError(f"{function}: x[{row}, {col}] is {x[row, col]}; give finite inputs")
    y_in = np.asarray(y)
    if y_in.ndim != 1 or len(y_in) != len(x):
        raise ConfigError(f"{function}: y has shape {y_in.shape}, expected ({len(x)},): one class label per row of x")
    labels = f"integers 0..{classes - 1}"
    if y_in.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y_in) | (y_in != np.round(y_in)))
        if bad.size:
            i = int(bad[0])
            raise ConfigError(f"{function}: y[{i}] = {y_in[i]} is not a class label ({labels})")
    elif y_in.dtype.kind not in "iu":
        raise ConfigError(f"{function}: y holds {y_in.dtype} values, not class labels ({labels})")
    y_out = y_in.astype(np.int64)
    bad = np.flatnonzero((y_out < 0) | (y_out >= classes))
    if bad.size:
        i = int(bad[0])
        raise ConfigError(
            f"{function}: y[{i}] = {y_in[i]} is out of range: the network has {classes} classes ({labels})"
        )
    return x, y_out
