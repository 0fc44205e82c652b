"""``simplenet bench``: how fast each twin trains, side by side in one run, against a FLOP floor.

A benchmark, not a test: it prints figures (and writes them as JSON); the targets are shown
as met or missed, never asserted.

The wing: ``floors`` (FLOPs, GEMM peak and floor), ``baselines`` (DataLoader, plain loops), ``commands``
(whole default commands, logging cost, DDP), ``run`` (the timed rounds and the command) and ``targets``;
its table is ``compare.report.format_bench``, with every other report table.
"""

from compare.bench.baselines import dataloader_epoch, plain_numpy_loop, plain_torch_loop
from compare.bench.commands import PART_NAMES, logging_cost, nproc_figures, outside_parts_text, startup_figures
from compare.bench.figure import Figure
from compare.bench.floors import flops_per_sample, gemm_floor, gemm_peak, summary, timed
from compare.bench.run import BASELINE_OF, bench_command, run_bench, timing_order, train_epoch
from compare.bench.targets import targets

__all__ = [
    "BASELINE_OF",
    "PART_NAMES",
    "Figure",
    "bench_command",
    "dataloader_epoch",
    "flops_per_sample",
    "gemm_floor",
    "gemm_peak",
    "logging_cost",
    "nproc_figures",
    "outside_parts_text",
    "plain_numpy_loop",
    "plain_torch_loop",
    "run_bench",
    "startup_figures",
    "summary",
    "targets",
    "timed",
    "timing_order",
    "train_epoch",
]
