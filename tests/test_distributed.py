"""The torch twin under torchrun/DDP (2 gloo processes on tiny data), proven equal to the manual twin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from compare import checkpoint, distributed
from helpers import HANGING_PLUGIN, ranks_of


@pytest.fixture(autouse=True)
def stacks_of_a_crashed_worker(monkeypatch):
    """A worker that dies of a fatal signal (SIGABRT, SIGSEGV) prints every thread's Python stack into
    the failure this file's tests show."""
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")


def cli(*args, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "compare.cli", *map(str, args)], capture_output=True, text=True, env=env, **kw
    )


def test_shards_cover_the_batch_and_weights_make_the_mean():
    for size in (1, 2, 7, 64):
        for world in (1, 2, 3, 4):
            parts = [distributed.shard(10, 10 + size, distributed.World(r, world)) for r in range(world)]
            assert parts[0][0] == 10 and parts[-1][1] == 10 + size
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))  # contiguous, in order
            weights = [
                distributed.shard_weight(b - a, size, distributed.World(r, world)) for r, (a, b) in enumerate(parts)
            ]
            assert sum(w / world for w in weights) == pytest.approx(1.0)  # DDP's mean of weighted means


@pytest.mark.parametrize("frozen", [False, True], ids=["garbage", "frozen-garbage"])
def test_the_ddp_wrapper_is_gone_before_the_group(tmp_path, monkeypatch, frozen):
    """A worker's wrapper is cyclic garbage at the end of a run, frozen when start-up froze it (train,
    compare); destroying the group under it aborted workers now and then."""
    import gc
    import weakref

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))
        ddp(torch.ones(4, 3)).sum().backward()
        wrapper = weakref.ref(ddp)
        cycle = {"wrapper": ddp}  # a process's first wrapper is held by such a cycle (a kept frame)
        cycle["itself"] = cycle
        del ddp, cycle
        if frozen:
            gc.freeze()
        assert wrapper() is not None  # only the cycle collector frees it
        seen = []
        destroy = dist.destroy_process_group
        monkeypatch.setattr(dist, "destroy_process_group", lambda *a, **k: (seen.append(wrapper()), destroy(*a, **k)))
        distributed.finish()
        assert seen == [None] and not dist.is_initialized()
    finally:
        gc.unfreeze()
        if dist.is_initialized():
            dist.destroy_process_group()
        if was_enabled:
            gc.enable()


def test_gradcheck_with_two_processes(tiny_mnist, tmp_path):
    out = tmp_path / "g.json"
    r = cli("gradcheck", "--nproc", 2, "--dtype", "float64", "--batch-size", 7, "--data-dir", tiny_mnist, "--json", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("verdict: AGREE") == 1  # one voice
    payload = json.loads(out.read_text())
    assert payload["world"]["world_size"] == 2 and payload["world"]["backend"] == "gloo"
    assert max(p["max_rel_err"] for p in payload["params"]) <= 1e-12


def test_compare_with_two_processes_and_uneven_batches(tiny_mnist, tmp_path):
    out = tmp_path / "c.json"
    r = cli(
        "compare",
        "--nproc",
        2,
        "--epochs",
        1,
        "--dtype",
        "float64",
        "--batch-size",
        23,
        "--data-dir",
        tiny_mnist,
        "--logdir",
        tmp_path / "runs",
        "--experiment",
        "d",
        "--quiet",
        "--json",
        out,
    )
    assert r.returncode == 0, r.stderr
    payload = json.loads(out.read_text())
    assert payload["steps"] == 5 and payload["max_abs_loss_diff"] <= 1e-9  # 96 = 4·23 + 4
    assert payload["final_param_max_abs_diff"] <= 1e-8
    env = json.loads((tmp_path / "runs" / "d" / "environment.json").read_text())
    assert env["world_size"] == 2 and env["backend"] == "gloo" and len(env["devices"]) == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["d"]  # rank 0 alone writes
    assert {p.name for p in (tmp_path / "runs" / "d").iterdir() if p.is_dir()} == {
        "manual",
        "torch",
        "divergence",
        "checkpoints",
    }


def test_a_broken_all_reduce_weighting_is_caught(tiny_mnist, tmp_path):
    """Planted in the workers: every shard's mean weighted alike (right only for equal shards)."""
    (tmp_path / "plant").mkdir()
    (tmp_path / "plant" / "sitecustomize.py").write_text(
        "import compare.distributed as d\nd.shard_weight = lambda shard_size, batch_size, world: 1.0\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plant")}
    r = cli(
        "compare",
        "--nproc",
        2,
        "--epochs",
        1,
        "--dtype",
        "float64",
        "--batch-size",
        23,
        "--data-dir",
        tiny_mnist,
        "--logdir",
        tmp_path / "runs",
        "--quiet",
        "--json",
        tmp_path / "c.json",
        env=env,
    )
    assert r.returncode == 1, r.stderr
    assert json.loads((tmp_path / "c.json").read_text())["max_abs_loss_diff"] > 1e-6
    r = cli("gradcheck", "--nproc", 2, "--batch-size", 7, "--data-dir", tiny_mnist, env=env)
    assert r.returncode == 1 and "MISMATCH" in r.stdout


def test_interrupt_then_resume_in_one_process_continues_the_curve(tmp_path, mnist_factory):
    data = mnist_factory(tmp_path / "data", n_train=2000, n_test=50)
    common = [
        "--data-dir",
        data,
        "--logdir",
        tmp_path / "runs",
        "--epochs",
        3,
        "--batch-size",
        5,
        "--dtype",
        "float64",
        "--quiet",
        "--log-every",
        20,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "compare.cli", "compare", "--nproc", "2", *map(str, common), "--experiment", "cut"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpts = tmp_path / "runs" / "cut" / "checkpoints"
    deadline = time.time() + 120
    while not any(ckpts.glob("ckpt-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    cut = checkpoint.find(ckpts)
    meta = checkpoint.read_meta(cut, ["manual", "torch"])
    assert 400 <= meta["step"] < 1200 and "Traceback" not in err

    r = cli("compare", "--resume", cut, "--data-dir", data, "--quiet")  # one process now
    assert r.returncode == 0, r.stderr
    r = cli("compare", *common, "--experiment", "whole")
    assert r.returncode == 0, r.stderr

    def final(exp):
        return checkpoint.read_meta(checkpoint.find(tmp_path / "runs" / exp / "checkpoints"), ["manual", "torch"])

    a, b = final("cut"), final("whole")
    for twin in ("manual", "torch"):
        x, y = np.array(a["history"][twin]["step_loss"]), np.array(b["history"][twin]["step_loss"])
        assert len(x) == len(y) == 1200
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)  # the same curve


def test_a_dead_rank_ends_the_run_quickly(tmp_path, mnist_factory):
    data = mnist_factory(tmp_path / "data", n_train=3000, n_test=50)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "compare.cli",
            "train",
            "--impl",
            "torch",
            "--nproc",
            "2",
            "--data-dir",
            str(data),
            "--logdir",
            str(tmp_path / "runs"),
            "--epochs",
            "50",
            "--batch-size",
            "4",
            "--quiet",
            "--experiment",
            "k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpts = tmp_path / "runs" / "k" / "checkpoints"
    deadline = time.time() + 120
    while not any(ckpts.glob("ckpt-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    try:
        workers = ranks_of(proc.pid)
        assert len(workers) == 2, workers  # the launcher's two workers
        start = time.time()
        os.kill(max(map(int, workers)), signal.SIGKILL)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.time() - start < 60
    assert proc.returncode not in (0, 1)
    assert "was killed by signal 9" in err and "Traceback" not in err


def test_a_users_own_torchrun(tiny_mnist, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--standalone",
            "-m",
            "compare.cli",
            "gradcheck",
            "--dtype",
            "float64",
            "--batch-size",
            "9",
            "--data-dir",
            str(tiny_mnist),
            "--json",
            str(tmp_path / "g.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("verdict: AGREE") == 1
    assert json.loads((tmp_path / "g.json").read_text())["world"]["world_size"] == 2


def test_nproc_is_refused_where_it_means_nothing(tiny_mnist):
    r = cli("train", "--impl", "manual", "--nproc", 2, "--data-dir", tiny_mnist)
    assert r.returncode == 2 and "--nproc runs the torch twin under DDP" in r.stderr


def alive(pid: int) -> bool:
    """Running (a zombie that nobody reaps in a container counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return False


def test_workers_die_with_their_launcher(tmp_path, mnist_factory):
    """kill -9 of the --nproc launcher: no worker is left running 10 s later (they would hold the GPUs)."""
    data = mnist_factory(tmp_path / "data")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "compare.cli",
            "train",
            "--impl",
            "torch",
            "--nproc",
            "2",
            "--epochs",
            "200",
            "--batch-size",
            "8",
            "--data-dir",
            str(data),
            "--no-images",
            "--logdir",
            str(tmp_path / "runs"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        assert proc.poll() is None, proc.communicate()
        workers = [int(c) for c in ranks_of(proc.pid)]
        time.sleep(0.2)
    assert len(workers) == 2
    next(line for line in proc.stdout if line.startswith("epoch"))  # both are training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone_by = time.time() + 10
    while time.time() < gone_by and any(alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(alive(w) for w in workers)


def test_a_hung_rank_is_reported_as_a_hang(tmp_path, mnist_factory):
    """A step that never ends under --nproc: the launcher names the hang (exit 4) within the timeout,
    instead of "killed by signal 9" or waiting for ever."""
    from pathlib import Path

    data = mnist_factory(tmp_path / "data")
    plugin = tmp_path / "hang.py"
    plugin.write_text((Path(__file__).resolve().parents[1] / "examples" / "cs231n_fc.py").read_text() + HANGING_PLUGIN)
    started = time.time()
    r = cli(
        "compare",
        "--nproc",
        "2",
        "--manual",
        f"{plugin}:Hanging",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--data-dir",
        data,
        "--logdir",
        tmp_path / "runs",
        "--quiet",
        "--no-images",
        "--step-timeout",
        "3",
        timeout=240,
        env={**os.environ, "HANG_AT": "5"},
    )
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "made no progress for" in r.stderr and "--step-timeout 3" in r.stderr
    assert "killed by signal" not in r.stderr
    assert time.time() - started < 120
