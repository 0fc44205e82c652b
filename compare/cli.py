"""``simplenet``: a thin command line over the library functions that the tests also call.

Exit codes: 0 the twins agree / the run finished, 1 the twins disagree, 2 a usage or data
error (one line on stderr, no traceback), 3 training stopped on a non-finite loss, 4 the machine
failed the run (disk full, a path that cannot be written, out of memory; one line), 130/143
interrupted by SIGINT/SIGTERM (after writing a checkpoint).
"""
from __future__ import annotations

import argparse
import sys

from compare import options as o
from compare.config import ModelSpec
from compare.errors import SimplenetError
from compare.process import write_json

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2


class DefaultsShown(argparse.HelpFormatter):
    """Every default in --help, once: appended where the help text does not already say it, and left
    out where there is none to show (a flag that is off, a path that is unset)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), like every other user mistake."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def typed(parse):
    """A value parser of compare.options as an argparse type: its BadValue is the one-line usage error."""
    def run(text: str):
        try:
            return parse(text)
        except o.BadValue as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    run.__name__ = parse.__name__      # argparse names the type in its messages
    return run


KINDS = {name: typed(parse) for name, parse in o.KINDS.items()}
POSITIVE, NONNEG, path_text = KINDS["positive"], KINDS["nonneg"], KINDS["path"]


def add(p, f: o.Flag, default=None, help: str | None = None) -> None:
    """One flag of the tables in compare.options."""
    kw = dict(dest=f.dest, help=help or f.help or None)
    if f.kind == "switch":
        kw["action"] = "store_true"
    elif f.kind == "maybe":
        kw.update(action="store_const", const=True, default=None)
    else:
        kw.update(type=KINDS[f.kind], default=default, metavar=f.metavar, choices=f.choices)
    p.add_argument(f.flag, **kw)


def add_all(p, flags) -> None:
    for f in flags:
        add(p, f, f.default)


def add_objective_flags(p, default=None) -> None:
    p.add_argument("--loss", default=default and "cross-entropy", help=o.LOSS_HELP)
    p.add_argument("--output-activation", default=default and "none",
                   help="after the last layer: none (logits), sigmoid or softmax (default: none)")


def add_data_flags(p, dataset_default: str | None = "mnist") -> None:
    p.add_argument("--dataset", default=dataset_default, choices=("mnist", "fashion-mnist", "kmnist"),
                   help="which of the MNIST family (default: " + ("mnist; on --resume, the checkpoint's)"
                                                                   if dataset_default is None else "%(default)s)"))
    p.add_argument("--data-dir", default=None, type=path_text, help=o.DATA_DIR_HELP)
    p.add_argument("--no-download", action="store_true", help="never fetch the data; fail if it is missing")


def add_plugin_flags(p, default_shown: str = "manual") -> None:
    from compare.plugins import convention_names

    p.add_argument("--manual", default=None, metavar="TARGET", help=o.MANUAL_HELP.format(default=default_shown))
    p.add_argument("--convention", default="auto", choices=("auto", *convention_names()),
                   help="how the plug-in's names and layouts map to torch's (default: %(default)s, detected)")
    p.add_argument("--traceback", action="store_true",
                   help="on a plug-in error, show the full Python traceback (for debugging a plug-in)")


def add_train_flags(p, command: str, exclude: tuple[str, ...] = (), defaults: dict | None = None) -> None:
    """Every config flag, plus the run flags; ``exclude`` leaves some out (their values stay unset),
    ``defaults`` sets this command's own defaults for some config fields."""
    from compare.config import TrainConfig

    defaults = defaults or {}
    shown = TrainConfig(**defaults)
    p.set_defaults(**{f.dest: defaults.get(f.dest) for f in o.CONFIG_FLAGS + o.RUN_FLAGS if f.flag in exclude})
    for f in o.CONFIG_FLAGS:
        if f.flag not in exclude:
            default = o.SHOWN_DEFAULTS.get(f.dest, getattr(shown, f.dest))
            text = f.help if f.kind == "maybe" else f"{f.help} (default: {default})"
            add(p, f, defaults.get(f.dest), o.registry_text(text))
    p.add_argument("--hidden", default=None, help="hidden layer sizes, comma-separated; 'none' for softmax "
                                                   "regression (default: 128,64)")
    p.add_argument("--activation", default=None, help="relu, sigmoid or tanh (default: relu)")
    add_objective_flags(p)
    p.add_argument("--device", default="auto", help="torch twin's device: auto, cpu, cuda or mps "
                                                    "(auto: cuda, then mps, then cpu)")
    add_data_flags(p, None)
    for f in o.RUN_FLAGS:
        if f.flag not in exclude:
            add(p, f, f.default, f.help.replace("{command}", command))
    p.add_argument("--json", default=None, type=path_text, help="also write the results to this JSON file")
    add_plugin_flags(p, "manual; on --resume, the checkpoint's")
    p.add_argument("--plugin-optimizer", default=None, metavar="FILE_OR_MODULE:NAME", help=o.PLUGIN_OPTIMIZER_HELP)


def add_nproc_flag(p) -> None:
    p.add_argument("--nproc", type=POSITIVE, default=1, metavar="N", help=o.NPROC_HELP)
    p.add_argument("--force", action="store_true",
                   help="allow --nproc above this machine's core count on the CPU (slow: they share cores)")


def options_from(args) -> o.RunOptions:
    """The run's options from the parsed flags: the only place a Namespace turns into library values."""
    from dataclasses import replace

    values = vars(args)
    return replace(o.run_options(values), overrides=o.config_overrides(values))


def spec_from(args) -> ModelSpec:
    return ModelSpec(hidden=ModelSpec.parse_hidden(args.hidden), activation=args.activation, loss=args.loss,
                     output_activation=args.output_activation)


def cmd_gradcheck(args, world) -> int:
    from compare.session import gradcheck

    report = gradcheck(options_from(args), spec_from(args), batch_size=args.batch_size, seed=args.seed,
                       dtype=args.dtype, dataset=args.dataset, random_data=args.random_data, fault=args.inject_fault,
                       fd=args.fd or args.fd_all, fd_samples=None if args.fd_all else args.fd_samples,
                       l2=args.l2, l1=args.l1, world=world)
    if report is None:                              # a follower rank: rank 0 reports
        return EXIT_OK
    print(report)                                   # compare.report.format_gradcheck
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.passed else EXIT_MISMATCH


def cmd_train(args, world) -> int:
    from compare.report import format_train
    from compare.session import run_training, train_results

    run = run_training(options_from(args), "train", [args.impl], world)
    if run.stopped is not None or not run.runner.world.leader:
        return run.stopped or EXIT_OK
    payload = train_results(run, args.impl)
    write_json(args.json, payload)
    print(format_train(payload, run.runner.twins[0].label, args.quiet))
    return EXIT_OK


def cmd_compare(args, world) -> int:
    from compare.report import format_compare
    from compare.session import compare_results, run_training

    run = run_training(options_from(args), "compare", ["manual", "torch"], world)
    if run.stopped is not None or not run.runner.world.leader:
        return run.stopped or EXIT_OK
    payload = compare_results(run)
    write_json(args.json, payload)
    print(format_compare(payload))
    return EXIT_OK if payload["passed"] else EXIT_MISMATCH


def cmd_overfit(args, world) -> int:
    from compare.report import format_overfit
    from compare.session import overfit_results

    impls = ["manual", "torch"] if args.impl == "both" else [args.impl]
    payload, labels = overfit_results(options_from(args), impls, max_steps=args.max_steps, target=args.target,
                                      world=world)
    print(format_overfit(payload, labels))
    write_json(args.json, payload)
    return EXIT_OK if payload["passed"] else EXIT_MISMATCH


def cmd_sweep(args, world) -> int:
    from compare.report import format_sweep
    from compare.session import sweep_results

    result = sweep_results(options_from(args), args.impl, args.lrs, world)
    if "stopped" in result:
        return result["stopped"]
    print(format_sweep(result, result.pop("impls"), result.pop("epochs")))
    write_json(args.json, result)
    return EXIT_OK


def cmd_optimcheck(args, world) -> int:
    from compare.optimcheck import check, format_report

    b1, b2 = args.betas or (None, None)
    given = dict(lr=args.lr, momentum=args.momentum, alpha=args.alpha, eps=args.eps, beta1=b1, beta2=b2)
    report = check(args.plugin_optimizer, steps=args.steps, dtype=args.dtype, seed=args.seed,
                   overrides={k: v for k, v in given.items() if v is not None})
    print(format_report(report))
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.passed else EXIT_MISMATCH


def cmd_plot(args, world) -> int:
    from compare.plot import plot_runs

    return plot_runs(args.run_dir, args.output)


def cmd_bench(args, world) -> int:
    from compare.bench import bench_command
    from compare.report import format_bench

    r = bench_command(batch_sizes=args.batch_sizes, dtypes=args.dtypes, repeats=args.repeats, device=args.device,
                      baseline=not args.no_baseline, startup=not args.no_startup, nprocs=args.nprocs,
                      data_dir=args.data_dir, download=not args.no_download, dataset=args.dataset, quiet=args.quiet)
    print(format_bench(r))
    write_json(args.json, r)
    return EXIT_OK


def build_parser() -> Parser:
    from compare.faults import FAULTS

    parser = Parser(prog="simplenet", formatter_class=argparse.RawDescriptionHelpFormatter, description=(
        "SimpleNet twice: the same MNIST network by hand in NumPy and with PyTorch autograd,\n"
        "and the checks that prove they agree.\n\n" + __doc__.split("\n\n", 1)[1]))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    fmt, arg = DefaultsShown, argparse.ArgumentParser.add_argument

    g = sub.add_parser("gradcheck", formatter_class=fmt,
                       help="compare both twins' gradients, parameter by parameter, on one batch")
    add_all(g, o.GRADCHECK_FLAGS)
    add_objective_flags(g, default=True)
    add_data_flags(g)
    add_all(g, o.GRADCHECK_CHECK_FLAGS)
    arg(g, "--inject-fault", choices=sorted(FAULTS), default=None,
        help="break the manual backward on purpose, to watch the check fail")
    arg(g, "--json", default=None, type=path_text, help="also write the results to this JSON file")
    add_plugin_flags(g)
    add_nproc_flag(g)

    t = sub.add_parser("train", help="train one twin on MNIST (or Fashion-MNIST, KMNIST), logged to TensorBoard")
    arg(t, "--impl", choices=("manual", "torch"), required=True, help="which twin to train")
    add_train_flags(t, "train")
    add_nproc_flag(t)

    c = sub.add_parser("compare", help="train both twins in lockstep from one start and one batch order")
    add_train_flags(c, "compare")
    add_nproc_flag(c)

    v = sub.add_parser("overfit", help="check the pipes: can the net memorise one batch (loss < 1e-3)?")
    arg(v, "--impl", choices=("manual", "torch", "both"), default="both", help="which twin (default: both)")
    add_train_flags(v, "overfit", exclude=("--epochs", "--schedule", "--step-size", "--gamma", "--eval-batch-size",
                                           "--logdir", "--experiment", "--checkpoint-dir", "--resume", "--log-every",
                                           "--quiet", "--no-images"), defaults={"batch_size": 16, "schedule": "none"})
    arg(v, "--max-steps", type=POSITIVE, default=1000, help="step budget (default: 1000)")
    arg(v, "--target", type=KINDS["above0"], default=1e-3, help="loss to reach (default: 0.001)")

    w = sub.add_parser("sweep", help="one short training per learning rate, each its own TensorBoard run")
    arg(w, "--impl", choices=("manual", "torch", "both"), default="torch", help="which twin (default: torch)")
    add_train_flags(w, "sweep", exclude=("--lr", "--resume", "--checkpoint-dir"), defaults={"epochs": 1})
    arg(w, "--lr", dest="lrs", default="0.001,0.01,0.1,1",
        help="comma-separated learning rates (default: 0.001,0.01,0.1,1)")

    oc = sub.add_parser("optimcheck", formatter_class=fmt,
                        help="your optimizer (CS231n update rules or an nnfs optimizer object) against torch.optim, "
                             "step by step; needs no data")
    arg(oc, "--plugin-optimizer", required=True, metavar="FILE_OR_MODULE:NAME",
        help="a cs231n rule (…optim.py:adam, sgd, sgd_momentum, rmsprop) or an nnfs optimizer class (…:Optimizer_Adam)")
    add_all(oc, o.OPTIMCHECK_FLAGS)

    pl = sub.add_parser("plot", help="draw a run's curves, divergence and confusion matrices into a PNG (no server)")
    arg(pl, "run_dir", metavar="RUN_DIR", help="the run directory a train or compare run printed (logs: …)")
    arg(pl, "-o", "--output", default=None, metavar="FILE.png", help="where to write (default: RUN_DIR/plot.png)")

    b = sub.add_parser("bench", formatter_class=fmt, help="time both twins' training epochs side by side, against a "
                                                          "FLOP floor")
    add_all(b, o.BENCH_FLAGS)
    add_data_flags(b)
    arg(b, "--json", default=None, help="also write the figures to this JSON file")
    arg(b, "--quiet", action="store_true", help="print only the final table")
    for name, p in sub.choices.items():
        p.set_defaults(func=globals()[f"cmd_{name}"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script (``argv`` None: the process's own command line) and the tests' way in."""
    from compare.process import command_process

    return command_process(argv, run_parsed)


def run_parsed(argv: list[str] | None) -> int:
    from compare.process import as_error, check_json_path, distributed_start, quiet_writer_threads

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    quiet_writer_threads()
    world = None
    try:
        check_json_path(getattr(args, "json", None))
        code, world = distributed_start(args.command, argv, impl=getattr(args, "impl", None),
                                        nproc=getattr(args, "nproc", 1), device=getattr(args, "device", "cpu"),
                                        force=getattr(args, "force", False),
                                        step_timeout=getattr(args, "step_timeout", None))
        if code is not None:
            return code
        try:
            return args.func(args, world)
        finally:
            if world is not None:
                from compare.distributed import finish

                finish()
    except Exception as e:
        error: SimplenetError | None = as_error(e, world)
        if error is None:             # not one of ours nor the machine's: a bug, with its traceback
            raise
        if error.cause is not None and getattr(args, "traceback", False):
            import traceback

            traceback.print_exception(type(error.cause), error.cause, error.cause.__traceback__)
        print(f"simplenet {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
