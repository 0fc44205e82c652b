"""Commands import only what they use: torchvision (seconds of start-up, torch._dynamo) only to
download data or when the torch twin reads it."""

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from compare.cli import main
try:
    code = main({argv!r})
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "torchvision": "torchvision" in sys.modules, "torch": "torch" in sys.modules}}))
"""


def loaded(argv):
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=[str(a) for a in argv])], capture_output=True, text=True
    )
    return json.loads(r.stdout.strip().splitlines()[-1]), r


@pytest.mark.parametrize("case", ["help", "train --impl manual", "gradcheck --random-data", "gradcheck (data)"])
def test_commands_that_need_no_torchvision_do_not_load_it(case, tiny_mnist, tmp_path):
    argv = {
        "help": ["--help"],
        "train --impl manual": [
            "train",
            "--impl",
            "manual",
            "--epochs",
            "1",
            "--quiet",
            "--data-dir",
            tiny_mnist,
            "--logdir",
            tmp_path / "runs",
        ],
        "gradcheck --random-data": ["gradcheck", "--random-data"],
        "gradcheck (data)": ["gradcheck", "--data-dir", tiny_mnist, "--batch-size", "8"],
    }[case]
    state, r = loaded(argv)
    assert state["code"] == 0, r.stderr
    assert not state["torchvision"]
    if case in ("help", "train --impl manual"):
        assert not state["torch"]


@pytest.mark.parametrize("command", ["train --impl torch", "compare"])
def test_damaged_data_is_said_before_torch_is_imported(command, tiny_mnist, mnist_damage, tmp_path):
    """A torch command with a damaged file answers in a fraction of a second, not after torch's import."""
    culprit = mnist_damage(tiny_mnist, "truncated", split="test")
    state, r = loaded([*command.split(), "--data-dir", tiny_mnist, "--no-download", "--logdir", tmp_path / "runs"])
    assert state["code"] == 2 and culprit in r.stderr, r.stderr
    assert not state["torch"]
    assert not (tmp_path / "runs").exists()  # nothing half-made


@pytest.mark.parametrize("case", ["train --impl manual (resumed)", "overfit --impl manual", "plot"])
def test_the_hand_written_twins_commands_never_load_torch(case, tiny_mnist, tmp_path):
    """The whole process of a hand-written twin's run - data, training, TensorBoard events, checkpoints,
    resume, plot - runs without torch (issue 22): its events are written by compare.events."""
    run = [
        "train",
        "--impl",
        "manual",
        "--epochs",
        "1",
        "--schedule",
        "none",
        "--quiet",
        "--data-dir",
        tiny_mnist,
        "--logdir",
        tmp_path,
    ]
    first, r = loaded([*run, "--experiment", "x"])
    assert first["code"] == 0 and not first["torch"], r.stderr
    argv = {
        "train --impl manual (resumed)": [*run[:4], "2", *run[5:], "--resume", tmp_path / "x" / "checkpoints"],
        "overfit --impl manual": ["overfit", "--impl", "manual", "--max-steps", "50", "--data-dir", tiny_mnist],
        "plot": ["plot", tmp_path / "x"],
    }[case]
    state, r = loaded(argv)
    assert state["code"] in (0, 1), r.stderr  # overfit may miss its target in 50 steps: exit 1, still no torch
    assert not state["torch"], case


def test_the_torch_twin_reading_data_does_load_it(tiny_mnist, tmp_path):
    """The probe can see torchvision when it is loaded (the check above can fail)."""
    state, r = loaded(
        [
            "train",
            "--impl",
            "torch",
            "--epochs",
            "1",
            "--quiet",
            "--data-dir",
            tiny_mnist,
            "--logdir",
            tmp_path / "runs",
        ]
    )
    assert state["code"] == 0, r.stderr
    assert state["torchvision"]


GC_PROBE = """
import gc, importlib, json, os, sys
from compare import cli

target = importlib.import_module({module!r})
*outer, name = {path!r}
for part in outer:
    target = getattr(target, part)
real = getattr(target, name)
seen = {{}}


def watched(*args, **kwargs):      # the collector's state when the watched function starts
    seen.setdefault("enabled", gc.isenabled())
    seen.setdefault("frozen", gc.get_freeze_count())
    return real(*args, **kwargs)


setattr(target, name, watched)
sys.argv = ["simplenet", *{argv!r}]
code = cli.main()                   # as the console script calls it: the process's own command line
if os.environ.get("SIMPLENET_SUPERVISED"):  # the worker, which ran the command (its supervisor waited)
    print(json.dumps(dict(seen, code=code, frozen_after=gc.get_freeze_count())))
"""


def collector_seen(argv, module: str, path: list[str]) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", GC_PROBE.format(argv=[str(a) for a in argv], module=module, path=path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, r.stderr
    return seen


@pytest.mark.parametrize("impl", ["manual", "torch"])
def test_start_up_without_collections_training_with_them(impl, tiny_mnist, tmp_path):
    """From the command line, start-up runs with the cycle collector held back (importing torch set off
    ~770 collections of nothing); the training loop runs with it on, the start-up's objects frozen;
    at the end everything is frozen for a quick exit.  In-process callers (tests) are untouched."""
    argv = ["train", "--impl", impl, "--epochs", "1", "--quiet", "--data-dir", tiny_mnist, "--logdir"]
    seen = collector_seen(argv + [tmp_path / "runs"], "compare.runner", ["Runner", "run"])
    # the start-up's objects (torch's, when the torch twin runs; the hand-written twin never imports it)
    # are out of the collector's way
    assert seen["enabled"] and seen["frozen"] > (100_000 if impl == "torch" else 10_000)
    assert seen["frozen_after"] >= seen["frozen"]

    import gc

    from compare.cli import main

    before = gc.get_freeze_count()
    assert main([str(a) for a in argv] + [str(tmp_path / "again")]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == before


def test_the_launcher_waits_on_its_workers_with_collections_on(tiny_mnist, tmp_path):
    seen = collector_seen(
        [
            "train",
            "--impl",
            "torch",
            "--nproc",
            "2",
            "--epochs",
            "1",
            "--quiet",
            "--no-images",
            "--data-dir",
            tiny_mnist,
            "--logdir",
            tmp_path / "runs",
        ],
        "compare.distributed",
        ["launch"],
    )
    assert seen["enabled"]  # the launcher lives, waiting, as long as the run
