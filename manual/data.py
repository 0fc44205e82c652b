"""MNIST and its family for the hand-written twin: a NumPy reader of the IDX files, raw or ``.gz``.

MNIST, Fashion-MNIST and KMNIST share the IDX format and the four file names.  Accepts
torchvision's layout (``ROOT/MNIST/raw/<file>``, ``ROOT/FashionMNIST/raw/…``, ``ROOT/KMNIST/raw/…``)
or a flat directory that holds the four files (``ROOT/<file>``).  Every defect gets a one-line
``DataError`` that names the file at fault.
"""
from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Dataset:
    name: str                     # as on the command line
    title: str                    # as in reports
    folder: str                   # torchvision's class and folder name
    mean: float                   # training-set pixel mean and std (on [0, 1])
    std: float
    classes: tuple[str, ...]


DATASETS = {
    "mnist": Dataset("mnist", "MNIST", "MNIST", 0.1307, 0.3081, tuple("0123456789")),
    "fashion-mnist": Dataset("fashion-mnist", "Fashion-MNIST", "FashionMNIST", 0.2860, 0.3530,
                             ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                              "Bag", "Ankle boot")),
    "kmnist": Dataset("kmnist", "KMNIST", "KMNIST", 0.1918, 0.3483,
                      ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
}
MEAN, STD = DATASETS["mnist"].mean, DATASETS["mnist"].std
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 0x0803, 0x0801   # unsigned bytes, 3 or 1 dimensions
HINT = "pass --data-dir DIR or set SIMPLENET_DATA (DIR/MNIST/raw/ or a flat DIR with the four files)"


def hint(dataset: str = "mnist") -> str:
    return HINT.replace("MNIST/raw", f"{DATASETS[dataset].folder}/raw")


class DataError(ValueError):
    """A problem with the MNIST files, in one line that says which file and what to do."""


def locate(root: str | Path, name: str, dataset: str = "mnist") -> Path | None:
    """Where ``name`` (or ``name.gz``) lies under ``root``: torchvision layout first, then flat."""
    root = Path(root)
    for folder in (root / DATASETS[dataset].folder / "raw", root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def not_found(root: str | Path, name: str, dataset: str = "mnist") -> DataError:
    ds = DATASETS[dataset]
    return DataError(f"{ds.title} {name} not found in {Path(root) / ds.folder / 'raw'} or {root}; {hint(dataset)}")


def split_paths(root: str | Path, split: str, dataset: str = "mnist") -> tuple[Path, Path]:
    """(image file, label file) of ``split`` = 'train' or 'test' under ``root``, or a DataError."""
    paths = []
    for name in FILES[split]:
        path = locate(root, name, dataset)
        if path is None:
            raise not_found(root, name, dataset)
        paths.append(path)
    return paths[0], paths[1]


def locate_all(root: str | Path, dataset: str = "mnist") -> dict[str, Path | None]:
    """The four files by name; ``None`` for each that is missing."""
    return {name: locate(root, name, dataset) for pair in FILES.values() for name in pair}


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes, checking its magic number and its length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it ({e}); replace the file") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated ({len(raw)} bytes, not even a header); replace the file")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path}: wrong magic number 0x{found:08x} (expected 0x{magic:08x}); "
                        "is it the right MNIST file?")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header; replace the file")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: {len(raw)} bytes for dimensions {dims} "
                        f"(expected {expected}); replace the file")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def check_split(images: np.ndarray, labels: np.ndarray, image_path, label_path,
                image_shape: tuple[int, int] = (28, 28)) -> None:
    """Counts, image size and label range; shared by both twins' loaders via the same rules."""
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise DataError(f"{image_path}: images are {images.shape[1]}×{images.shape[2]}, "
                        f"expected {image_shape[0]}×{image_shape[1]} (the MNIST family)")
    if len(images) != len(labels):
        raise DataError(f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path}; "
                        "the two files do not belong together")
    if len(images) == 0:
        raise DataError(f"{image_path}: holds no images (its header says 0); replace the file")
    if len(labels) and int(labels.max()) > 9:
        raise DataError(f"{label_path}: label {int(labels.max())} is outside 0-9; replace the file")


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
