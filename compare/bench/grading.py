"""``simplenet bench --grade N``: a synthetic class of N submissions (a layer file, four update rules and a net
each) graded by one ``simplenet grade``, against the same checks run one command per check (``layercheck``,
``optimcheck``, ``gradcheck``), on the same machine in the same run (issue 33's targets: ≤ 1/10 of the time,
≤ 0.3 s a submission beyond its checks)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = """
[[check]]
name = "layers"
kind = "layercheck"
target = "layers.py"
points = 13

{rules}
[[check]]
name = "net"
kind = "gradcheck"
target = "net.py:make"
options = { batch_size = 16 }
points = 5
"""
RULES = ("sgd", "sgd_momentum", "rmsprop", "adam")  # the four update rules of CS231n's optim.py
CHECKS = CHECKS.replace(
    "{rules}",
    "".join(f'[[check]]\nname = "{r}"\nkind = "optimcheck"\ntarget = "optim.py:{r}"\npoints = 2\n\n' for r in RULES),
)
PER_SUBMISSION = 2 + len(RULES)
FACTORY = "\n\ndef make(sizes, activation='relu', dtype=np.float64):\n    return FullyConnectedNet(sizes, activation, dtype)\n"


def make_class(root: Path, n: int) -> Path:
    """N submissions from the examples, every third with the dropout scaling dropped."""
    layers = (ROOT / "examples" / "cs231n_layers.py").read_text()
    optim = (ROOT / "examples" / "cs231n_optim.py").read_text()
    net = (ROOT / "examples" / "cs231n_fc.py").read_text() + FACTORY
    for k in range(n):
        folder = root / "subs" / f"s{k:03d}"
        folder.mkdir(parents=True)
        text = layers if k % 3 else layers.replace("< p) / p ", "< p) / 1 ")
        (folder / "layers.py").write_text(text)
        (folder / "optim.py").write_text(optim)
        (folder / "net.py").write_text(net)
    (root / "checks.toml").write_text(CHECKS)
    return root / "subs"


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - t0


def warm_checks(folder: Path) -> float:
    """One submission's checks in this (warm) process: what the checks themselves cost."""
    from compare import api

    def checks():
        api.check_layers(folder / "layers.py")
        for rule in RULES:
            api.check_optimizer(f"{folder / 'optim.py'}:{rule}")
        api.check_gradients(f"{folder / 'net.py'}:make", batch_size=16)

    checks()  # imports and first use (torch.optim's first step imports torch._dynamo), not timed
    t0 = time.perf_counter()
    checks()
    return time.perf_counter() - t0


def grade_figures(n: int = 20, log=print) -> dict:
    cli = [sys.executable, "-m", "compare.cli"]
    with tempfile.TemporaryDirectory(prefix="simplenet-bench-grade-") as tmp:
        subs = make_class(Path(tmp), n)
        checks = str(Path(tmp) / "checks.toml")
        graded = wall([*cli, "grade", str(subs), "--checks", checks, "--out", str(Path(tmp) / "out"), "--jobs", "1"])
        log(f"  simplenet grade, {n} submissions x {PER_SUBMISSION} checks, one job: {graded:.1f}s")
        each = 0.0
        for folder in sorted(subs.iterdir()):
            each += wall([*cli, "layercheck", str(folder / "layers.py")])
            for rule in RULES:
                each += wall([*cli, "optimcheck", "--plugin-optimizer", f"{folder / 'optim.py'}:{rule}"])
            each += wall(
                [*cli, "gradcheck", "--random-data", "--batch-size", "16", "--manual", f"{folder / 'net.py'}:make"]
            )
        log(f"  the same checks one command each: {each:.1f}s")
        checks_alone = warm_checks(next(iter(sorted(subs.iterdir()))))
    per_submission = graded / n
    out = {
        "submissions": n,
        "checks_per_submission": PER_SUBMISSION,
        "grade_seconds": graded,
        "one_command_per_check_seconds": each,
        "ratio": graded / each,
        "checks_per_submission_seconds": checks_alone,
        "overhead_per_submission_seconds": per_submission - checks_alone,
    }
    log(
        f"  ratio {out['ratio']:.3f} (target ≤ 0.1); per submission {per_submission:.2f}s, of which its checks "
        f"{checks_alone:.2f}s in a warm process: {out['overhead_per_submission_seconds']:.2f}s beyond them (target ≤ 0.3)"
    )
    return out


def grade_command(n: int, json_path: str | None) -> int:
    """``simplenet bench --grade N``: the figures, the targets met or missed, the JSON."""
    from compare.bench.targets import grade_targets
    from compare.process import write_json

    figures = grade_figures(n)
    figures["targets"] = grade_targets(figures)
    for t in figures["targets"]:
        print(f"{'met' if t['met'] else 'MISSED':<7}{t['target']}: {t['text']}")
    write_json(json_path, figures)
    return 0
