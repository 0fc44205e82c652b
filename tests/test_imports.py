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
    r = subprocess.run([sys.executable, "-c", PROBE.format(argv=[str(a) for a in argv])],
                       capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1]), r


@pytest.mark.parametrize("case", ["help", "train --impl manual", "gradcheck --random-data", "gradcheck (data)"])
def test_commands_that_need_no_torchvision_do_not_load_it(case, tiny_mnist, tmp_path):
    argv = {"help": ["--help"],
            "train --impl manual": ["train", "--impl", "manual", "--epochs", "1", "--quiet", "--data-dir", tiny_mnist,
                                    "--logdir", tmp_path / "runs"],
            "gradcheck --random-data": ["gradcheck", "--random-data"],
            "gradcheck (data)": ["gradcheck", "--data-dir", tiny_mnist, "--batch-size", "8"]}[case]
    state, r = loaded(argv)
    assert state["code"] == 0, r.stderr
    assert not state["torchvision"]
    if case == "help":
        assert not state["torch"]


def test_the_torch_twin_reading_data_does_load_it(tiny_mnist, tmp_path):
    """The probe can see torchvision when it is loaded (the check above can fail)."""
    state, r = loaded(["train", "--impl", "torch", "--epochs", "1", "--quiet", "--data-dir", tiny_mnist,
                       "--logdir", tmp_path / "runs"])
    assert state["code"] == 0, r.stderr
    assert state["torchvision"]


GC_PROBE = """
import gc, json, sys
from compare import cli, runner

seen = {{}}
real_run = runner.Runner.run


def run(self):                      # what the training loop starts with
    seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())
    return real_run(self)


runner.Runner.run = run
sys.argv = ["simplenet", *{argv!r}]
code = cli.main()                   # as the console script calls it: the process's own command line
print(json.dumps(dict(seen, code=code, enabled_after=gc.isenabled(), frozen_after=gc.get_freeze_count())))
"""


@pytest.mark.parametrize("impl", ["manual", "torch"])
def test_start_up_without_collections_training_with_them(impl, tiny_mnist, tmp_path):
    """From the command line, start-up runs with the cycle collector held back (importing torch set off
    ~770 collections of nothing); the training loop runs with it on, the start-up's objects frozen;
    at the end everything is frozen for a quick exit.  In-process callers (tests) are untouched."""
    argv = ["train", "--impl", impl, "--epochs", "1", "--quiet", "--data-dir", str(tiny_mnist),
            "--logdir", str(tmp_path / "runs")]
    r = subprocess.run([sys.executable, "-c", GC_PROBE.format(argv=argv)], capture_output=True, text=True)
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, r.stderr
    assert seen["enabled"] and seen["frozen"] > 100_000            # torch's objects, out of the collector's way
    assert seen["frozen_after"] >= seen["frozen"]

    import gc

    from compare.cli import main

    before = gc.get_freeze_count()
    assert main(argv[:-1] + [str(tmp_path / "again")]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == before


LAUNCHER_PROBE = """
import gc, json, sys
from compare import cli, distributed

seen = {{}}
real_launch = distributed.launch


def launch(argv, nproc):            # the launcher waits on its workers for the whole run
    seen.update(enabled=gc.isenabled())
    return real_launch(argv, nproc)


distributed.launch = launch
sys.argv = ["simplenet", *{argv!r}]
print(json.dumps(dict(seen, code=cli.main())))
"""


def test_the_launcher_waits_on_its_workers_with_collections_on(tiny_mnist, tmp_path):
    argv = ["train", "--impl", "torch", "--nproc", "2", "--epochs", "1", "--quiet", "--no-images",
            "--data-dir", str(tiny_mnist), "--logdir", str(tmp_path / "runs")]
    r = subprocess.run([sys.executable, "-c", LAUNCHER_PROBE.format(argv=argv)], capture_output=True, text=True,
                       timeout=300)
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen == {"enabled": True, "code": 0}, r.stderr
