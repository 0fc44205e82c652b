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
