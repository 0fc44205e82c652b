"""pytest helpers for instructors and students: the judge's verdicts as assertions.

    from compare.testing import assert_gradients_match

    def test_my_backprop():
        assert_gradients_match(FullyConnectedNet([784, 128, 64, 10]))

A failure raises ``AssertionError`` whose message is the whole report - every parameter, the
diagnosis and the worst elements - so the test log says what is wrong and where.
"""

from __future__ import annotations

from compare.api import check_gradients, check_layers, check_optimizer

__all__ = ["assert_gradients_match", "assert_layers_match", "assert_optimizer_matches"]


def assert_gradients_match(net, **kwargs):
    """``check_gradients(net, **kwargs)`` must agree; returns the report when it does."""
    __tracebackhide__ = True  # pytest shows the learner's test line, not this helper's frame
    report = check_gradients(net, **kwargs)
    if not report.ok:
        raise AssertionError("the gradients do not match autograd's:\n" + str(report))
    return report


def assert_optimizer_matches(target: str, **kwargs):
    """``check_optimizer(target, **kwargs)`` must agree with torch.optim (an equivalent form passes)."""
    __tracebackhide__ = True
    report = check_optimizer(target, **kwargs)
    if not report.passed:
        from compare.optimcheck import format_report

        raise AssertionError("the optimizer does not match torch.optim's:\n" + format_report(report))
    return report


def assert_layers_match(target, **kwargs):
    """``check_layers(target, **kwargs)`` must agree in every written layer; returns the report when it does."""
    __tracebackhide__ = True
    report = check_layers(target, **kwargs)
    if not report.ok:
        raise AssertionError("the layers do not match torch's:\n" + str(report))
    return report
