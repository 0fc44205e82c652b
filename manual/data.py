"""MNIST and its family for the hand-written twin: a NumPy reader of the IDX files, raw or ``.gz``.

MNIST, Fashion-MNIST and KMNIST share the IDX format and the four file names.  Accepts
torchvision's layout (``ROOT/MNIST/raw/<file>``, ``ROOT/FashionMNIST/raw/…``, ``ROOT/KMNIST/raw/…``)
or a flat directory that holds the four files (``ROOT/<file>``).  Every defect gets a one-line
``DataError`` that names the file at fault.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

# the family's facts are the judge's (compare/datasets.py), shared with the autograd twin
from compare.datasets import (  # noqa: F401
    DATASETS,
    FILES,
    IMAGE_MAGIC,
    LABEL_MAGIC,
    MEAN,
    STD,
    DataError,
    check_split,
    hint,
    idx_dims,
    locate,
    locate_all,
    not_found,
    split_paths,
)


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes, checking its magic number and its length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it ({e}); replace the file") from None
    dims, header = idx_dims(path, raw, len(raw), magic)
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_split(root: str | Path, split: str, dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) int64) of ``split`` = 'train' or 'test'."""
    paths = split_paths(root, split, dataset)
    images = read_idx(paths[0], IMAGE_MAGIC)
    labels = read_idx(paths[1], LABEL_MAGIC)
    if images.ndim != 3:
        raise DataError(f"{paths[0]}: {images.ndim} dimensions, expected 3 (count, rows, cols)")
    check_split(images, labels, *paths)
    return images, labels.astype(np.int64)


def normalize(images: np.ndarray, dtype=np.float32, dataset: str = "mnist") -> np.ndarray:
    """uint8 (N, 28, 28) → (N, 784) in ``dtype``: (x/255 − mean) / std with the dataset's own mean and
    std, in place after one copy (the same roundings as the out-of-place formula, without three more
    188 MB temporaries)."""
    x = images.reshape(len(images), -1).astype(dtype)
    x /= 255
    x -= DATASETS[dataset].mean
    x /= DATASETS[dataset].std
    return x
