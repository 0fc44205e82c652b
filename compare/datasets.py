"""The MNIST family as the judge knows it, for both twins: names, folders, normalization constants,
class names, the four IDX file names and where they lie (torchvision's layout or a flat directory),
and the checks both twins' loaders apply.  Pure Python: ``manual/`` and ``torch_impl/`` both import
it, and neither imports the other."""

from __future__ import annotations

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


def check_split(images, labels, image_path, label_path, image_shape: tuple[int, int] = (28, 28)) -> None:
    """Counts, image size and label range of a split (NumPy arrays or tensors): both twins' loaders apply
    the same rules."""
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise DataError(
            f"{image_path}: images are {images.shape[1]}×{images.shape[2]}, "
            f"expected {image_shape[0]}×{image_shape[1]} (the MNIST family)"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path}; "
            "the two files do not belong together"
        )
    if len(images) == 0:
        raise DataError(f"{image_path}: holds no images (its header says 0); replace the file")
    if len(labels) and int(labels.max()) > 9:
        raise DataError(f"{label_path}: label {int(labels.max())} is outside 0-9; replace the file")
