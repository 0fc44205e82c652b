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
    assert main(["bench", "--data-dir", str(tiny_mnist), "--repeats", "1", "--batch-sizes", "16,32",
                 "--json", str(out), "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert set(r["epoch_seconds"]) == {f"{impl}/{dt}/{bs}" for impl in ("manual", "torch")
                                       for dt in ("float32", "float64") for bs in (16, 32)}
    assert all(s["median"] > 0 and s["x_floor"] > 0 for s in r["epoch_seconds"].values())
    assert set(r["lockstep"]) == {"16", "32"} and set(r["dataloader_seconds"]) == {"16", "32"}
    assert r["gemm_peak"]["float32"]["flops"] > 1e8
    assert r["environment"]["blas"] and len(r["targets"]) >= 6
    text = capsys.readouterr().out
    assert "targets:" in text and "FLOP floor" in text
