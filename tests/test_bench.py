"""The benchmark runs end to end on tiny data (a smoke test: no timing is asserted)."""

import json

from compare.bench import flops_per_sample
from compare.cli import main
from compare.config import ModelSpec


def test_flops_per_sample_of_simplenet():
    # forward 2·109,184 + weight gradients 2·109,184 + input gradients of layers 2 and 3 2·8,832
    assert flops_per_sample(ModelSpec()) == 454_400


def test_bench_runs_and_reports_every_figure(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--data-dir",
                str(tiny_mnist),
                "--repeats",
                "1",
                "--batch-sizes",
                "16,32",
                "--json",
                str(out),
                "--quiet",
                "--no-startup",
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())
    assert set(r["epoch_seconds"]) == {
        f"{impl}/{dt}/{bs}" for impl in ("manual", "torch") for dt in ("float32", "float64") for bs in (16, 32)
    }
    assert all(s["median"] > 0 and s["x_floor"] > 0 for s in r["epoch_seconds"].values())
    assert set(r["lockstep"]) == {"16", "32"} and set(r["dataloader_seconds"]) == {"16", "32"}
    assert r["gemm_peak"]["float32"]["flops"] > 1e8
    assert r["environment"]["blas"] and len(r["targets"]) >= 6
    text = capsys.readouterr().out
    assert "targets:" in text and "FLOP floor" in text
    assert 0 < r["logging"]["call_site_us"] < r["logging"]["amortised_us"] and r["logging"]["c_crc32c"] is True
    assert "TensorBoard logging:" in text and "per-step logging at the call site" in text
    assert set(r["plain_loops"]) == {"manual/16", "torch/16", "manual/32", "torch/32"}
    assert all(s["twin_ratio"] > 0 and s["twin_ratio_of_fastest"] > 0 for s in r["plain_loops"].values())
    assert all(r["plain_loops"][f"manual/{bs}"]["bare_ratio"] > 0 for bs in (16, 32))
    assert "the manual twin's own code without the judge" in text
    assert all(r["gemm_floor"][bs]["seconds_per_step"] > 0 for bs in ("16", "32"))
    assert all(e["x_gemm_floor"] > 0 for k, e in r["epoch_seconds"].items() if "float32" in k)


def test_plain_loops_do_the_twins_math(tiny_mnist):
    """The baselines are fair only if they compute what the twins compute: same per-step losses and
    correct counts from the same start and batch order (float64)."""
    import numpy as np

    from compare.bench import plain_numpy_loop, plain_torch_loop, train_epoch
    from compare.bench.baselines import bare_manual_loop
    from compare.config import TrainConfig
    from compare.twins import ManualTwin, TorchTwin, initial_state

    cfg = TrainConfig(dtype="float64", batch_size=16, schedule="none")
    state = initial_state(cfg.spec, 0)
    for twin, loop in (
        (ManualTwin(cfg, state, tiny_mnist), plain_numpy_loop),
        (ManualTwin(cfg, state, tiny_mnist), bare_manual_loop),
        (TorchTwin(cfg, state, tiny_mnist, "cpu"), plain_torch_loop),
    ):
        x = twin.x_train if isinstance(twin.x_train, np.ndarray) else twin.x_train.numpy()
        y = twin.y_train if isinstance(twin.y_train, np.ndarray) else twin.y_train.numpy()
        run = loop(x, y, state, 16)
        for epoch in range(2):
            losses, correct = run(epoch)
            train_epoch([twin], 16, epoch)
            np.testing.assert_allclose(losses, twin.host_losses(0, len(losses)), rtol=1e-12)
            assert correct == twin.host_correct()


def test_bench_times_ddp(tiny_mnist, tmp_path):
    out = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--data-dir",
                str(tiny_mnist),
                "--repeats",
                "1",
                "--batch-sizes",
                "16",
                "--dtypes",
                "float32",
                "--json",
                str(out),
                "--quiet",
                "--no-startup",
                "--no-baseline",
                "--nproc",
                "1,2",
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())
    assert r["nproc"]["1"]["epoch_seconds"] > 0 and r["nproc"]["1"]["allreduce_seconds"] is None
    assert r["nproc"]["2"]["allreduce_seconds"] > 0


def test_each_twin_is_timed_beside_its_plain_loop_in_both_orders():
    from compare.bench import Figure, timing_order

    names = [
        "manual/float32/64",
        "torch/float32/64",
        "manual/float64/64",
        "lockstep/float32/64",
        "plain-numpy/float32/64",
        "plain-torch/float32/64",
        "manual/float32/256",
        "plain-numpy/float32/256",
        "bare-manual/float32/64",
    ]
    keys = [Figure.parse(k) for k in names]
    assert [k.key for k in keys] == names and keys[0] == Figure("manual", "float32", 64)
    rounds = [timing_order(keys, r) for r in range(4)]
    for order in rounds:
        assert sorted(order) == sorted(keys)  # every configuration, once a round
    for twin, loop in (
        ("manual/float32/64", "plain-numpy/float32/64"),
        ("torch/float32/64", "plain-torch/float32/64"),
        ("manual/float32/256", "plain-numpy/float32/256"),
    ):
        firsts = []
        for order in rounds:
            i, j = order.index(Figure.parse(twin)), order.index(Figure.parse(loop))
            assert abs(i - j) == 1
            firsts.append(i < j)
        assert firsts == [True, False, True, False]
    for order in rounds:  # the bare twin on the plain loop's other side
        i, j = order.index(Figure.parse("plain-numpy/float32/64")), order.index(Figure.parse("bare-manual/float32/64"))
        assert abs(i - j) == 1


def test_startup_figures_account_for_the_time_outside_the_steps(tiny_mnist):
    """Default commands as a user runs them (on tiny data): the time to the first step and each part
    of the time outside the steps, measured in the run itself; together they are the wall time."""
    from compare.bench import startup_figures

    r = startup_figures(tiny_mnist, log=lambda *a: None)
    assert r["bare_import_torch"] > 0
    assert set(r["commands"]) == {"gradcheck", "layercheck", "train --impl manual", "train --impl torch", "compare"}
    for name, c in r["commands"].items():
        assert c["returncode"] == 0, name
        assert c["wall_x_import"] == c["wall"] / r["bare_import_torch"]
        assert c["imported_torch"] is (name != "train --impl manual"), name  # read from the process itself
        if name in ("gradcheck", "layercheck"):
            continue
        parts = c["outside_parts"]
        assert set(parts) == {"start_up", "step_logging", "epoch_ends", "checkpoints", "rest"}
        assert 0 < parts["start_up"] < c["wall"] and parts["start_up"] == c["to_first_step"]
        assert all(v > 0 for k, v in parts.items() if k != "rest")  # 15 epochs: each part took time
        assert abs(sum(parts.values()) + c["step_seconds"] - c["wall"]) < 1e-6
        assert 0 < parts["rest"] < c["wall"]  # between epochs, results, closing logs, exit (disjoint from the parts)
        assert c["outside_fraction"] == c["outside_steps"] / c["wall"]
        ends = c["epoch_end_parts"]  # measured inside the epoch ends, so they fit in them
        assert set(ends) == {"evaluation", "diagnostics", "histograms", "pictures"}
        assert all(v > 0 for v in ends.values()) and sum(ends.values()) <= parts["epoch_ends"]
        assert c["pictures_fraction"] == ends["pictures"] / c["wall"]
    report = r["commands"]["compare"]
    assert report["report_returncode"] == 0 and 0 < report["report_seconds"] < report["wall"]
