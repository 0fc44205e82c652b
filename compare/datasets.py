"""The MNIST family as the judge knows it, for both twins: names, folders, normalization constants,
class names, the four IDX file names and where they lie (torchvision's layout or a flat directory),
and the checks both twins' loaders apply.  Pure Python: ``manual/`` and ``torch_impl/`` both import
it, and neither imports the other."""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

from compare.errors import UserError


@dataclass(frozen=True)
class Dataset:
    name: str  # as on the command line
    title: str  # as in reports
    folder: str  # torchvision's class and folder name
    mean: float  # training-set pixel mean and std (on [0, 1])
    std: float
    classes: tuple[str, ...]


DATASETS = {
    "mnist": Dataset("mnist", "MNIST", "MNIST", 0.1307, 0.3081, tuple("0123456789")),
    "fashion-mnist": Dataset(
        "fashion-mnist",
        "Fashion-MNIST",
        "FashionMNIST",
        0.2860,
        0.3530,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "kmnist": Dataset(
        "kmnist", "KMNIST", "KMNIST", 0.1918, 0.3483, ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    ),
}
MEAN, STD = DATASETS["mnist"].mean, DATASETS["mnist"].std
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 0x0803, 0x0801  # unsigned bytes, 3 or 1 dimensions
HINT = "pass --data-dir DIR or set SIMPLENET_DATA (DIR/MNIST/raw/ or a flat DIR with the four files)"


def hint(dataset: str = "mnist") -> str:
    return HINT.replace("MNIST/raw", f"{DATASETS[dataset].folder}/raw")


class DataError(UserError, ValueError):
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


def idx_dims(path: Path, raw: bytes, size: int | None, magic: int) -> tuple[tuple[int, ...], int]:
    """(dimensions, header length) of an IDX file of unsigned bytes whose first bytes are ``raw``, checked
    against ``magic`` and against the file's length ``size`` (None: not known yet, e.g. a ``.gz``)."""
    if len(raw) < 4:
        raise DataError(f"{path}: truncated ({len(raw)} bytes, not even a header); replace the file")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(
            f"{path}: wrong magic number 0x{found:08x} (expected 0x{magic:08x}); is it the right MNIST file?"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header; replace the file")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if size is not None and size != expected:
        what = "truncated" if size < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: {size} bytes for dimensions {dims} (expected {expected}); replace the file")
    return dims, header


def check_files(root: str | Path, dataset: str = "mnist") -> None:
    """The four files' headers, lengths, counts and label range, read without torch or NumPy (the
    images' headers only, the labels whole): a command that imports torch says what is wrong with the
    data at once, before it.  The twins' own readers apply the same rules to everything they read."""
    for split in FILES:
        (image_path, image_dims), (label_path, labels) = (
            _head(path, magic, whole=magic == LABEL_MAGIC)
            for path, magic in zip(split_paths(root, split, dataset), (IMAGE_MAGIC, LABEL_MAGIC))
        )
        if len(image_dims) != 3:
            raise DataError(f"{image_path}: {len(image_dims)} dimensions, expected 3 (count, rows, cols)")
        check_counts(image_dims, len(labels), max(labels, default=0), image_path, label_path)


def _head(path: Path, magic: int, whole: bool) -> tuple[Path, tuple[int, ...] | bytes]:
    """(path, the image dimensions) or, with ``whole``, (path, the label bytes) of one IDX file."""
    try:
        if path.suffix == ".gz":  # its length is known once decompressed: the twins' readers check it
            with gzip.open(path, "rb") as f:
                raw = f.read() if whole else f.read(4 + 4 * 255)  # the longest header
            size = len(raw) if whole else None
        else:
            with open(path, "rb") as f:
                raw = f.read() if whole else f.read(4 + 4 * 255)  # the longest header
            size = path.stat().st_size
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it ({e}); replace the file") from None
    dims, header = idx_dims(path, raw, size, magic)
    return path, raw[header:] if whole else dims


def check_split(images, labels, image_path, label_path, image_shape: tuple[int, int] = (28, 28)) -> None:
    """Counts, image size and label range of a split (NumPy arrays or tensors): both twins' loaders apply
    the same rules."""
    check_counts(
        tuple(images.shape), len(labels), int(labels.max()) if len(labels) else 0, image_path, label_path, image_shape
    )


def check_counts(
    image_dims: tuple[int, ...],
    n_labels: int,
    max_label: int,
    image_path,
    label_path,
    image_shape: tuple[int, int] = (28, 28),
) -> None:
    """The rules of ``check_split`` on the images' dimensions, the number of labels and the largest one."""
    if tuple(image_dims[1:]) != tuple(image_shape):
        raise DataError(
            f"{image_path}: images are {image_dims[1]}×{image_dims[2]}, "
            f"expected {image_shape[0]}×{image_shape[1]} (the MNIST family)"
        )
    if image_dims[0] != n_labels:
        raise DataError(
            f"{label_path}: {n_labels} labels for {image_dims[0]} images in {image_path}; "
            "the two files do not belong together"
        )
    if image_dims[0] == 0:
        raise DataError(f"{image_path}: holds no images (its header says 0); replace the file")
    if max_label > 9:
        raise DataError(f"{label_path}: label {max_label} is outside 0-9; replace the file")
