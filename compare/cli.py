"""``simplenet``: a thin command line over the library functions that the tests also call.

Exit codes: 0 the twins agree / the run finished, 1 the twins disagree, 2 a usage or data
error (one line on stderr, no traceback), 130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compare.config import DTYPES, ConfigError, ModelSpec
from manual.data import DataError

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), like every other user mistake."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=float) + "\n")


# --- gradcheck ------------------------------------------------------------------------------
def add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", default="128,64",
                   help="hidden layer sizes, comma-separated; 'none' for softmax regression")
    p.add_argument("--activation", default="relu", help="relu, sigmoid or tanh")


def spec_from(args) -> ModelSpec:
    return ModelSpec(hidden=ModelSpec.parse_hidden(args.hidden), activation=args.activation)


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="MNIST root (DIR/MNIST/raw/ or a flat DIR of the four files, raw or .gz); "
                        "default: $SIMPLENET_DATA, else ./data (downloaded there if missing)")
    p.add_argument("--no-download", action="store_true", help="never fetch MNIST; fail if it is missing")


def format_gradcheck(r) -> str:
    lines = [f"gradcheck: {r.spec}, {r.dtype}, batch of {r.batch_size} ({r.source})"
             + (f", injected fault: {r.fault}" if r.fault else ""),
             f"{'parameter':<15}{'shape':<13}{'max |Δ|':>11}{'max rel err':>13}{'tolerance':>11}  verdict"]
    for p in r.params:
        lines.append(f"{p.name:<15}{str(tuple(p.shape)):<13}{p.max_abs_diff:>11.2e}{p.max_rel_err:>13.2e}"
                     f"{r.tolerance:>11.0e}  {'OK' if p.passed else 'MISMATCH'}")
    lines.append(f"{'loss':<15}{'()':<13}{r.loss['abs_diff']:>11.2e}{r.loss['rel_err']:>13.2e}{r.tolerance:>11.0e}  "
                 f"{'OK' if r.loss['passed'] else 'MISMATCH'}   (manual {r.loss['manual']:.10f}, torch {r.loss['torch']:.10f})")
    lines.append(f"{'logits':<15}{str((r.batch_size, 10)):<13}{r.logits['max_abs_diff']:>11.2e}"
                 f"{r.logits['max_rel_err']:>13.2e}{r.tolerance:>11.0e}  {'OK' if r.logits['passed'] else 'MISMATCH'}")
    if r.fd is not None:
        lines.append("")
        lines.append("finite differences (float64, central, h=1e-5) against each twin's gradient:")
        lines.append(f"{'parameter':<15}{'checked':>8}{'kinks':>7}{'|fd−manual|':>13}{'|fd−torch|':>12}  verdict")
        for c in r.fd:
            verdict = {(True, True): "OK", (False, True): "MANUAL WRONG", (True, False): "TORCH WRONG",
                       (False, False): "BOTH DIFFER FROM FD"}[(c.passed_manual, c.passed_torch)]
            lines.append(f"{c.name:<15}{c.checked:>8}{c.kinks:>7}{c.max_abs_err_manual:>13.2e}"
                         f"{c.max_abs_err_torch:>12.2e}  {verdict}")
    bad = [p.name for p in r.params if not p.passed]
    lines.append("")
    if r.passed:
        lines.append(f"verdict: AGREE - all {len(r.params)} parameters within {r.tolerance:.0e}")
    else:
        lines.append(f"verdict: MISMATCH - {', '.join(bad) or 'loss/logits/finite differences'} outside tolerance")
    return "\n".join(lines)


def cmd_gradcheck(args) -> int:
    from compare.data import ensure_mnist, random_batch, real_batch, resolve_root
    from compare.gradcheck import gradient_proof

    spec = spec_from(args)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} must be at least 1")
    if args.random_data:
        x, y = random_batch(args.batch_size, args.seed, args.dtype, spec.in_features, spec.out_features)
        source = f"random N(0,1) inputs, seed {args.seed}"
    else:
        root = ensure_mnist(resolve_root(args.data_dir), download=not args.no_download)
        x, y = real_batch(root, args.batch_size, args.seed, args.dtype)
        source = f"MNIST train from {root}, seed {args.seed}"
    report = gradient_proof(x, y, spec=spec, seed=args.seed, dtype=args.dtype, source=source,
                            fault=args.inject_fault, fd=args.fd or args.fd_all,
                            fd_samples=None if args.fd_all else args.fd_samples)
    print(format_gradcheck(report))
    write_json(args.json, report.to_dict())
    return EXIT_OK if report.passed else EXIT_MISMATCH


def build_parser() -> Parser:
    from compare.faults import FAULTS

    parser = Parser(prog="simplenet", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    g = sub.add_parser("gradcheck", formatter_class=fmt,
                       help="compare both twins' gradients, parameter by parameter, on one batch")
    g.add_argument("--dtype", default="float64", choices=DTYPES)
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--seed", type=int, default=0, help="seeds the initial weights and the batch draw")
    add_model_flags(g)
    add_data_flags(g)
    g.add_argument("--random-data", action="store_true", help="use random inputs instead of MNIST")
    g.add_argument("--fd", action="store_true",
                   help="also check both twins against finite differences (three-way)")
    g.add_argument("--fd-samples", type=int, default=16, help="coordinates per parameter for --fd")
    g.add_argument("--fd-all", action="store_true", help="finite differences on every coordinate (slow)")
    g.add_argument("--inject-fault", choices=sorted(FAULTS), default=None,
                   help="break the manual backward on purpose, to watch the check fail")
    g.add_argument("--json", default=None, help="also write the results to this JSON file")
    g.set_defaults(func=cmd_gradcheck)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError) as e:
        print(f"simplenet {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
