"""Both twins' MNIST readers: both layouts, raw and .gz, and each kind of damaged file."""

import gzip

import numpy as np
import pytest

from compare.data import ensure_mnist
from compare.datasets import DataError, check_files
from manual import data as manual_data
from torch_impl import data as torch_data

READERS = {"manual": manual_data.load_split, "torch": torch_data.load_split}


def as_numpy(a):
    return a.numpy() if hasattr(a, "numpy") else a


@pytest.mark.parametrize("impl", sorted(READERS))
@pytest.mark.parametrize("layout", ["torchvision", "flat"])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_reader_reads_every_layout(tmp_path, mnist_factory, impl, layout, gz):
    ref = mnist_factory(tmp_path / "ref")
    root = mnist_factory(tmp_path / "d", layout=layout, gz=gz)
    check_files(root)  # the pre-check before torch: nothing wrong with intact files
    for split, n in (("train", 96), ("test", 40)):
        images, labels = READERS[impl](root, split)
        ref_images, ref_labels = manual_data.load_split(ref, split)
        assert images.shape == (n, 28, 28)
        np.testing.assert_array_equal(as_numpy(images), ref_images)
        np.testing.assert_array_equal(as_numpy(labels), ref_labels)


def test_both_twins_normalise_identically(tiny_mnist):
    import torch

    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        a = manual_data.normalize(manual_data.load_split(tiny_mnist, "train")[0], dtype)
        b = torch_data.normalize(torch_data.load_split(tiny_mnist, "train")[0], tdtype).numpy()
        np.testing.assert_array_equal(a, b)
        assert a.shape == (96, 784)
    x = manual_data.normalize(np.full((1, 28, 28), 255, np.uint8), np.float64)
    assert x[0, 0] == pytest.approx((1 - 0.1307) / 0.3081)


KINDS = ["file missing", "wrong magic", "truncated", "counts differ", "label out of range", "not 28x28", "bad gzip"]


@pytest.mark.parametrize("impl", sorted(READERS))
@pytest.mark.parametrize("kind", KINDS)
def test_damaged_files_give_one_line_naming_the_file(tiny_mnist, mnist_damage, impl, kind):
    culprit = mnist_damage(tiny_mnist, kind)
    with pytest.raises(DataError) as err:
        READERS[impl](tiny_mnist, "train")
    message = str(err.value)
    assert "\n" not in message
    assert culprit in message


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_check_before_torch_says_what_the_reader_says(tiny_mnist, mnist_damage, split, kind):
    """``check_files`` (run before a torch command imports torch) reads headers and labels only, yet
    refuses each kind of damage with the hand-written reader's own line."""
    culprit = mnist_damage(tiny_mnist, kind, split)
    with pytest.raises(DataError) as read:
        manual_data.load_split(tiny_mnist, split)
    with pytest.raises(DataError) as checked:
        check_files(tiny_mnist)
    if kind == "bad gzip":  # zlib words a stream cut short by its reader's chunk, the culprit is the same
        assert culprit in str(checked.value) and "cannot read it" in str(checked.value)
    else:
        assert str(checked.value) == str(read.value)


def test_manual_reader_says_what_is_wrong(tiny_mnist, mnist_damage):
    mnist_damage(tiny_mnist, "wrong magic")
    with pytest.raises(DataError, match="wrong magic number"):
        manual_data.load_split(tiny_mnist, "train")


def test_missing_data_without_download_names_the_place_and_the_fix(tmp_path):
    with pytest.raises(DataError) as err:
        ensure_mnist(tmp_path / "empty", download=False)
    assert "SIMPLENET_DATA" in str(err.value) and "--data-dir" in str(err.value)


def test_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    """Offline (or a dead mirror): torchvision's failure becomes one line with what to do."""
    import torchvision.datasets.mnist as tv

    monkeypatch.setattr(tv.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(DataError) as err:
        ensure_mnist(tmp_path / "fresh", download=True)
    message = str(err.value)
    assert "downloading it failed" in message and "SIMPLENET_DATA" in message and "\n" not in message


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_run_refused_for_its_flags_downloads_nothing(tmp_path, monkeypatch, capsys):
    """With no data and downloads allowed, a run whose --device cannot be had is refused before
    anything is fetched (the pre-check before torch leaves a missing dataset to the download)."""
    import torch_impl.data
    from compare.cli import main

    def download(*a, **k):
        raise AssertionError("downloaded before the device was checked")

    monkeypatch.setattr(torch_impl.data, "download", download)
    assert main(["compare", "--device", "cuda", "--data-dir", str(tmp_path / "fresh"), "--logdir", str(tmp_path)]) == 2
    assert "--device cuda" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()


def test_gz_reader_round_trips(tmp_path, idx_writer):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = idx_writer(tmp_path / "x-idx3-ubyte", arr, gz=True)
    assert gzip.decompress(path.read_bytes())[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(manual_data.read_idx(path, manual_data.IMAGE_MAGIC), arr)


@pytest.mark.parametrize("dataset,folder", [("fashion-mnist", "FashionMNIST"), ("kmnist", "KMNIST")])
@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_the_mnist_family_in_lockstep(tmp_path, mnist_factory, dataset, folder, layout, capsys):
    """Each dataset from its own torchvision folder (or a flat one), with its own normalisation,
    named in the header and the JSON; the twins agree per step in float64."""
    import json

    from compare.cli import main
    from compare.datasets import DATASETS

    made = mnist_factory(tmp_path / "made", layout="flat")
    root = tmp_path / "data"
    target = root / folder / "raw" if layout == "torchvision" else root
    target.mkdir(parents=True)
    for f in made.iterdir():
        f.rename(target / f.name)
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--dataset",
            dataset,
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--batch-size",
            "10",
            "--data-dir",
            str(root),
            "--no-download",
            "--logdir",
            str(tmp_path / "runs"),
            "--json",
            str(out),
        ]
    )
    payload = json.loads(out.read_text())
    assert code == 0 and payload["max_abs_loss_diff"] <= 1e-9
    assert payload["config"]["dataset"] == dataset
    assert f"lockstep compare: {DATASETS[dataset].title}," in capsys.readouterr().out
    images, _ = manual_data.load_split(root, "train", dataset)
    x = manual_data.normalize(images, np.float64, dataset)
    np.testing.assert_allclose(
        x, (images.reshape(len(images), -1) / 255 - DATASETS[dataset].mean) / DATASETS[dataset].std, rtol=1e-12
    )
    # the MNIST folder is not where Fashion-MNIST/KMNIST are looked for
    assert main(["gradcheck", "--dataset", dataset, "--data-dir", str(tmp_path / "made-nothing"), "--no-download"]) == 2
    assert f"{DATASETS[dataset].title} train-images-idx3-ubyte not found in" in capsys.readouterr().err
