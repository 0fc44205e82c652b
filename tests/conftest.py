"""Shared fixtures: a real MNIST root when SIMPLENET_DATA names one, tiny IDX files otherwise."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

# The subprocesses the tests start (the CLI, DDP workers, resumed runs) train on tiny data: with torch's
# default thread pool a batch of 4 spends most of each step synchronising threads on this 2-core machine
# (one torch resume test: 297 s with default threads, ~2 s with one - issue 19's measurement).  One
# thread each; a user's runs are not affected.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Hypothesis keeps its example database and constants cache under ./.hypothesis by default: outside the
# checkout instead (the suite fails on files it leaves there)
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(__import__("tempfile").gettempdir(), "simplenet-hypothesis")
)


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, gz: bool = False) -> Path:
    """Write ``array`` (uint8) as an IDX file; ``magic`` overrides the header's first 4 bytes."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def make_mnist(
    root: Path, n_train: int = 96, n_test: int = 40, layout: str = "torchvision", gz: bool = False, seed: int = 0
) -> Path:
    """A tiny, learnable MNIST look-alike: each class is a noisy bright blob at its own place."""
    rng = np.random.default_rng(seed)
    folder = root / "MNIST" / "raw" if layout == "torchvision" else root

    def split(n):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            r, col = 2 + (c // 5) * 13, 2 + (c % 5) * 5
            images[i, r : r + 10, col : col + 5] += 180
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)

    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = split(n)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz=gz)
    return root


DAMAGE = ["file missing", "wrong magic", "truncated", "counts differ", "label out of range", "not 28x28", "bad gzip"]


def damage_mnist(root: Path, kind: str, split: str = "train") -> str:
    """Damage one file of a tiny MNIST made by ``make_mnist``; returns the name of the file at fault."""
    raw = root / "MNIST" / "raw"
    prefix = "train" if split == "train" else "t10k"
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    count = len(labels.read_bytes()) - 8
    if kind == "file missing":
        labels.unlink()
        return labels.name
    if kind == "wrong magic":
        images.write_bytes(b"\x00\x00\x08\x01" + images.read_bytes()[4:])  # a label file's magic
    elif kind == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif kind == "counts differ":
        write_idx(labels, np.zeros(count - 1, np.uint8))
        return labels.name
    elif kind == "label out of range":
        write_idx(labels, np.full(count, 10, np.uint8))
        return labels.name
    elif kind == "not 28x28":
        write_idx(images, np.zeros((count, 20, 20), np.uint8))
    elif kind == "bad gzip":
        images.unlink()
        (raw / f"{images.name}.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
        return f"{images.name}.gz"
    else:
        raise ValueError(kind)
    return images.name


@pytest.fixture
def mnist_damage():
    """``damage(root, kind, split='train') -> name of the file at fault``; kinds in ``DAMAGE``."""
    return damage_mnist


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    return make_mnist(tmp_path / "tiny")


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    root = os.environ.get("SIMPLENET_DATA")
    if not root or not (Path(root) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip(
            "needs real MNIST: set SIMPLENET_DATA to a directory holding MNIST/raw/ (CI sets it to ../shared/data)"
        )
    return Path(root)


@pytest.fixture
def mnist_factory():
    """``make_mnist(root, n_train=…, layout='torchvision'|'flat', gz=…)`` for tests that need variants."""
    return make_mnist


@pytest.fixture
def idx_writer():
    """``write_idx(path, array, magic=None, gz=False)``."""
    return write_idx


@pytest.fixture(scope="module")
def mnist_factory_module():
    return make_mnist


# --- test tiers -------------------------------------------------------------------------------
# Every test gets one tier marker, from what its own code (and the helpers of its module it calls)
# does: `process` when it starts processes (the CLI as a subprocess, DDP workers, a TensorBoard
# server), `cli` when it drives compare.cli.main in this process, `unit` otherwise; `slow` (full
# MNIST) is set by the tests themselves.  A developer's
# quick loop:  scripts/test.sh -m "not slow and not process".  CI runs every tier.
PROCESS_SIGNS = ("subprocess", "Popen", "cli(", "run_cli(", "--nproc", "collector_seen(", "loaded(", "tensorboard_on(")


def pytest_collection_modifyitems(config, items):
    import inspect
    import re

    def source_of(fn) -> str:
        try:
            return inspect.getsource(fn)
        except (OSError, TypeError):
            return ""

    for item in items:
        source = source_of(item.function)
        module = vars(inspect.getmodule(item.function) or object())
        for name in set(re.findall(r"\b(\w+)\(", source)):  # one level of the module's own helpers
            helper = module.get(name)
            if inspect.isfunction(helper) and helper.__module__ == item.function.__module__:
                source += source_of(helper)
        if any(sign in source for sign in PROCESS_SIGNS):
            item.add_marker(pytest.mark.process)
        elif "main(" in source:
            item.add_marker(pytest.mark.cli)
        else:
            item.add_marker(pytest.mark.unit)


# --- the suite leaves the checkout as it found it ------------------------------------------------
# A test that writes into the repository (a run directory named "None", a default ./runs, a stray
# checkpoint) instead of its tmp_path fails the whole session, naming what it left.
REPO = Path(__file__).resolve().parents[1]
NOT_THE_TREE = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}


def repo_files() -> set[str]:
    """Every file under the checkout but the virtualenv, git's own and the caches."""
    found = set()
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in NOT_THE_TREE and not d.endswith(".egg-info")]
        found.update(os.path.relpath(os.path.join(folder, name), REPO) for name in files)
    return found


def tracked_changes() -> str | None:
    """``git status`` of the tracked files (None outside a git checkout)."""
    try:
        r = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller checks; xdist workers do not
        session.config.stash[TREE_BEFORE] = (repo_files(), tracked_changes())


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(TREE_BEFORE, None)
    if before is None:
        return
    files, tracked = before
    left = [f"new file: {name}" for name in sorted(repo_files() - files)]
    now = tracked_changes()
    if tracked is not None and now is not None and now != tracked:
        left.append(f"tracked files changed while it ran (git status):\n{now}")
    if left:
        session.config.stash[TREE_LEFT] = left
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left = config.stash.get(TREE_LEFT, None)
    if left:
        terminalreporter.write_sep("=", "the suite wrote into the checkout", red=True)
        terminalreporter.write_line(f"tests must write under tmp_path, not into {REPO}:", red=True)
        for line in left[:20]:
            terminalreporter.write_line(f"  {line}", red=True)
        if len(left) > 20:
            terminalreporter.write_line(f"  … and {len(left) - 20} more", red=True)


TREE_BEFORE = pytest.StashKey[tuple]()
TREE_LEFT = pytest.StashKey[list]()
