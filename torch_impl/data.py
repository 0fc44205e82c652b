"""MNIST and its family for the autograd twin: torchvision fetches and reads the files.

``download`` uses ``torchvision.datasets.MNIST`` / ``FashionMNIST`` / ``KMNIST`` the normal way;
``load_split`` reads the same four files with torchvision's IDX reader, from torchvision's layout
or a flat directory, raw or ``.gz``, and holds them as tensors.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from compare.datasets import DATASETS, DataError, check_split, hint, split_paths


def download(root: str | Path, dataset: str = "mnist") -> None:
    """Fetch the dataset into ``root/<Folder>/raw`` with torchvision; one clear line when it can't."""
    import torchvision.datasets  # torchvision is slow to import: only when needed

    ds = DATASETS[dataset]
    cls = getattr(torchvision.datasets, ds.folder)
    root = Path(root)
    created = [p for p in (root / ds.folder / "raw", root / ds.folder, root) if not p.exists()]
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as e:  # torchvision raises URLError, RuntimeError, … when offline
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(e).__name__  # e.g. <urlopen error … not known>
        for folder in created:  # leave no empty folders behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise DataError(
            f"{ds.title} is not in {Path(root).resolve()} and downloading it failed ({reason}); {hint(dataset)}"
        ) from None


def _read(path: Path, reader) -> torch.Tensor:
    from torchvision.datasets.utils import extract_archive

    try:
        if path.suffix == ".gz":
            with tempfile.TemporaryDirectory() as tmp:
                return reader(extract_archive(str(path), tmp))
        return reader(str(path))
    except Exception as e:  # torchvision's reader asserts without messages
        detail = " ".join(str(e).split())[:100] or type(e).__name__
        raise DataError(f"{path}: not a valid IDX file, truncated or damaged ({detail}); replace the file") from None


def load_split(root: str | Path, split: str, dataset: str = "mnist") -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 28, 28) uint8, labels (N,) int64) of ``split`` = 'train' or 'test'."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    paths = split_paths(root, split, dataset)
    images, labels = _read(paths[0], read_image_file), _read(paths[1], read_label_file)
    check_split(images, labels, *paths)
    return images, labels.long()


def normalize(images: torch.Tensor, dtype=torch.float32, device="cpu", dataset: str = "mnist") -> torch.Tensor:
    """uint8 (N, 28, 28) → (N, 784) in ``dtype`` on ``device``: (x/255 − mean) / std, in place
    after one copy (the uint8 images cross to the device, 4-8× smaller than floats)."""
    x = images.reshape(len(images), -1).to(device=device).to(dtype)
    return x.div_(255).sub_(DATASETS[dataset].mean).div_(DATASETS[dataset].std)
