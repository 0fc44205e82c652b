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

    run.__name__ = parse.__name__  # argparse names the type in its messages
    return run


KINDS = {name: typed(parse) for name, parse in o.KINDS.items()}


def add(p, f: o.Flag) -> None:
    """One flag of the tables in compare.options."""
    if not f.flag.startswith("-"):  # positional
        p.add_argument(f.flag, metavar=f.metavar, help=f.help)
        return
    kw = dict(dest=f.dest, help=f.help or None)
    if f.kind == "switch":
        kw["action"] = "store_true"
    elif f.kind == "maybe":
        kw.update(action="store_const", const=True, default=None)
    else:
        kw.update(type=KINDS[f.kind], default=f.default, metavar=f.metavar, choices=f.choices)
        if f.required:
            kw["required"] = True
    p.add_argument(*(f.short, f.flag) if f.short else (f.flag,), **kw)


def options_from(args) -> o.RunOptions:
    """The run's options from the parsed flags: the only place a Namespace turns into library values."""
    from dataclasses import replace

    values = vars(args)
    return replace(o.run_options(values), overrides=o.config_overrides(values))


def spec_from(args) -> ModelSpec:
    return ModelSpec.from_values(vars(args))


def cmd_gradcheck(args, world) -> int:
    from compare.session import gradcheck

    given = {k: vars(args)[k] for k in ("batch_size", "seed", "dtype", "dataset", "random_data", "l2", "l1")}
    fd = dict(fd=args.fd or args.fd_all, fd_samples=None if args.fd_all else args.fd_samples)
    report = gradcheck(options_from(args), spec_from(args), fault=args.inject_fault, world=world, **fd, **given)
    if report is None:  # a follower rank: rank 0 reports
        return EXIT_OK
    print(report)  # compare.report.format_gradcheck
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
    payload, labels = overfit_results(
        options_from(args), impls, max_steps=args.max_steps, target=args.target, world=world
    )
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
    report = check(
        args.plugin_optimizer,
        steps=args.steps,
        dtype=args.dtype,
        seed=args.seed,
        overrides={k: v for k, v in given.items() if v is not None},
    )
    print(format_report(report))
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.passed else EXIT_MISMATCH


def cmd_layercheck(args, world) -> int:
    from compare.layercheck import check_layers

    report = check_layers(args.target, only=args.only, seed=args.seed, rtol=args.rtol)
    print(report)
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.ok else EXIT_MISMATCH


def cmd_grade(args, world) -> int:
    from compare.grade import grade

    payloads = grade(
        args.submissions,
        args.checks,
        out=args.out,
        gradescope=args.gradescope,
        jobs=args.jobs,
        timeout=args.timeout,
        memory=args.memory,
        again=args.again,
    )
    write_json(args.json, payloads)
    if args.out:
        print(f"wrote {args.out}: a folder per student, grades.csv, class.html")
    return EXIT_OK


def cmd_plot(args, world) -> int:
    from compare.plot import plot_runs

    return plot_runs(args.run_dir, args.output)


def cmd_report(args, world) -> int:
    from compare.htmlreport import report
    from compare.process import write_failure

    with write_failure(args.output or args.run_dir):
        print(f"wrote {report(args.run_dir, args.output)}")
    return EXIT_OK


def cmd_bench(args, world) -> int:
    from compare.bench import bench_command
    from compare.report import format_bench

    if args.grade:
        from compare.bench.grading import grade_command

        return grade_command(args.grade, args.json)
    given = {k: getattr(args, k) for k in ("batch_sizes", "dtypes", "repeats", "device", "nprocs", "data_dir")}
    skips = dict(baseline=not args.no_baseline, startup=not args.no_startup, download=not args.no_download)
    r = bench_command(**given, **skips, dataset=args.dataset, quiet=args.quiet)
    print(format_bench(r))
    write_json(args.json, r)
    return EXIT_OK


def build_parser() -> Parser:
    parser = Parser(
        prog="simplenet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "SimpleNet twice: the same MNIST network by hand in NumPy and with PyTorch autograd,\n"
            "and the checks that prove they agree.\n\n" + __doc__.split("\n\n", 1)[1]
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in o.commands():
        p = sub.add_parser(
            command.name,
            help=command.help,
            formatter_class=DefaultsShown if command.defaults_shown else argparse.HelpFormatter,
        )
        for flag in command.flags:
            add(p, flag)
        p.set_defaults(func=globals()[f"cmd_{command.name}"], **command.unset)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script (``argv`` None: the process's own command line) and the tests' way in."""
    from compare.process import command_process

    return command_process(argv, run_parsed)


def run_parsed(argv: list[str] | None) -> int:
    from compare import supervisor
    from compare.process import as_error, check_json_path, distributed_start

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed: the parser's own verdict
        supervisor.BEACON.verdict(e.code if isinstance(e.code, int) else EXIT_USAGE)
        raise
    world = None
    try:
        check_json_path(getattr(args, "json", None))
        if getattr(args, "json", None):
            supervisor.BEACON.tell(json=args.json)  # a worker that ends without a verdict is recorded there
        supervisor.BEACON.limits(getattr(args, "stop_grace", None), getattr(args, "step_timeout", None))
        code, world = distributed_start(
            args.command,
            argv,
            impl=getattr(args, "impl", None),
            nproc=getattr(args, "nproc", 1),
            device=getattr(args, "device", "cpu"),
            force=getattr(args, "force", False),
            step_timeout=getattr(args, "step_timeout", None),
        )
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
        if error is None:  # not one of ours nor the machine's: a bug, with its traceback
            raise
        if error.cause is not None and getattr(args, "traceback", False):
            import traceback

            traceback.print_exception(type(error.cause), error.cause, error.cause.__traceback__)
        print(f"simplenet {args.command}: error: {error}", file=sys.stderr)
        if getattr(args, "json", None) and (world is None or world.leader):
            try:  # the failure is the verdict: --json records it, as the supervisor does for a lost worker
                write_json(
                    getattr(args, "json", None), supervisor.failure_record(args.command, error.exit_code, str(error))
                )
            except SimplenetError:
                pass
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
