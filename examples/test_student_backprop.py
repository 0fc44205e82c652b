"""An instructor's test file: copy it next to a student's code and run ``pytest``.

Each test judges the student's network (here the repository's correct examples stand in) against
autograd, or their optimizer against torch.optim; a failure prints the judge's whole report, with the
diagnosis of the bug.
"""
import sys
from pathlib import Path

import pytest

from compare.testing import assert_gradients_match, assert_optimizer_matches

HERE = Path(__file__).resolve().parent


@pytest.fixture
def student():
    """The student's module (here: examples/cs231n_fc.py), imported by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("student_fc_net", HERE / "cs231n_fc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fully_connected_net_gradients(student):
    net = student.FullyConnectedNet([784, 128, 64, 10], dtype="float64")
    assert_gradients_match(net, batch_size=16)


def test_with_l2_regularization(student):
    net = student.FullyConnectedNet([784, 32, 10], reg=1e-2, dtype="float64")
    assert_gradients_match(net, batch_size=8, l2=1e-2)


def test_adam():
    assert_optimizer_matches(f"{HERE}/cs231n_optim.py:adam", steps=30)
