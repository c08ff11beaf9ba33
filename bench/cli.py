"""Command line of the benchmark: ``qhybrid bench`` and ``python -m bench`` (or ``python -m bench.cli``).

:data:`COMMAND` is the ``bench`` entry of the ``qhybrid.commands`` entry-point group (``pyproject.toml``):
:func:`add_arguments` adds the flags to a parser, :func:`run` runs what they ask and returns
the exit status: 0, or 1 when a row of ours failed (error or disagreement with the reference),
130 when interrupted by Ctrl-C and 143 by SIGTERM (the signal is forwarded to the running
worker, and the rows measured so far are written); peers' failures are reported in the table and
as warnings.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from .adapters import BACKENDS, PEER_ALIASES, PEERS, adapters_for
from .adapters.base import package_version
from .harness import (
    DEFAULT_BUDGET, MPI_QUBITS, QUICK, BenchInterrupted, MPIBenchError, Options, forward_signal, mpi_markdown, plan,
    run_benchmark, run_mpi_benchmark,
)
from .measure import MAX_REPEATS
from .report import markdown, write_outputs
from .workloads import DEFAULT_LAYERS, WORKLOAD_ORDER, WORKLOADS

__all__ = ["COMMAND", "add_arguments", "run", "run_mpi", "main", "options_from_args", "parse_int_list", "MAX_QUBITS"]

log = logging.getLogger(__name__)

#: Largest register accepted on the command line (memory is checked per point anyway).
MAX_QUBITS = 36
#: Largest batch accepted on the command line.
MAX_BATCH = 1 << 20
#: Largest thread count accepted on the command line.
MAX_THREADS = 1024
#: Default output folder.
DEFAULT_OUT = "bench-results"


def parse_int_list(text: str, what: str, lo: int, hi: int) -> tuple[int, ...]:
    """``"20-26"``, ``"8,10,12"``, ``"8-20:2"`` or a mix (``"8-12,16"``) → sorted unique ints."""
    vals: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: empty item")
        try:
            if "-" in part.lstrip("-"):
                rng, _, step = part.partition(":")
                a, _, b = rng.partition("-")
                start, stop, inc = int(a), int(b), int(step) if step else 1
                if inc < 1 or stop < start:
                    raise ValueError
                vals.update(range(start, stop + 1, inc))
            else:
                vals.add(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid {what} {text!r}: {part!r} is not an integer, a range a-b or a-b:step") from None
    bad = [v for v in sorted(vals) if not lo <= v <= hi]
    if bad:
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: {bad[0]} is outside {lo}..{hi}")
    return tuple(sorted(vals))


def _ints(what: str, lo: int, hi: int):
    def parse(text: str) -> tuple[int, ...]:
        return parse_int_list(text, what, lo, hi)

    parse.__name__ = what
    return parse


def _names(what: str, choices: tuple[str, ...], aliases: dict[str, str] | None = None, *, upper: bool = False,
           allow_all: bool = False):
    def parse(text: str) -> tuple[str, ...] | None:
        items = [t.strip() for t in text.split(",")]
        if allow_all and items == ["all"]:
            return None
        if allow_all and items == ["none"]:
            return ()
        out = []
        for t in items:
            key = t.upper() if upper else t.lower()
            key = (aliases or {}).get(key, key)
            if key not in choices:
                extra = ", all, none" if allow_all else ""
                raise argparse.ArgumentTypeError(f"unknown {what} {t!r}; choose from {', '.join(choices)}{extra}")
            if key not in out:
                out.append(key)
        return tuple(out)

    parse.__name__ = what
    return parse


def _int_in(what: str, lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: must be between {lo} and {hi}")
        return v

    parse.__name__ = what
    return parse


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid budget {text!r}: not a number of seconds") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid budget {text!r}: must be a positive number of seconds")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's flags to ``parser``."""
    g = parser.add_argument_group("what to run")
    g.add_argument("--workloads", "-w", type=_names("workload", WORKLOAD_ORDER, upper=True), default=None,
                   metavar="W1,W2,...", help=f"workloads (default: all of {', '.join(WORKLOAD_ORDER)})")
    g.add_argument("--qubits", "-n", type=_ints("qubit list", 1, MAX_QUBITS), default=None, metavar="RANGE",
                   help="qubit counts, e.g. 20-26, 8,10,12 or 8-20:2 (default: per workload)")
    g.add_argument("--batch", "-b", type=_ints("batch list", 1, MAX_BATCH), default=None, metavar="LIST",
                   help="batch sizes of the batched workloads W2 and HEAD (default: 256 and 32)")
    g.add_argument("--precision", type=_names("precision", ("double", "single")), default=None,
                   metavar="double,single", help="precisions (default: both; --quick: double)")
    g.add_argument("--threads", type=_ints("thread list", 1, MAX_THREADS), default=None, metavar="LIST",
                   help=f"thread counts, one configuration each (default: all {os.cpu_count()} cores)")
    g.add_argument("--backends", type=_names("backend", BACKENDS), default=None, metavar="numba,numpy,cupy",
                   help="our backends (default: all that run here; numba always runs: it is the reference)")
    g.add_argument("--peers", type=_names("peer", PEERS, PEER_ALIASES, allow_all=True), default=None,
                   metavar="LIST|all|none",
                   help=f"peer simulators (default: all installed of {', '.join(PEERS)}; --quick: "
                        "one or two per workload, see --list)")
    g.add_argument("--layers", type=_int_in("layer count", 1, 64), default=DEFAULT_LAYERS, metavar="L",
                   help=f"ansatz layers of W1-W3 (default {DEFAULT_LAYERS})")
    g.add_argument("--seed", type=_int_in("seed", 0, 2**31 - 1), default=0, help="seed of weights and inputs")
    g.add_argument("--budget", type=_positive_float, default=None, metavar="SECONDS",
                   help=f"seconds of timed repeats per point; a size whose single run is predicted to "
                        f"exceed it is skipped (default {DEFAULT_BUDGET:g}; --quick: {QUICK.budget:g})")
    g.add_argument("--max-repeats", type=_int_in("repeat count", 1, 10000), default=None, metavar="N",
                   help=f"timed runs per point at most (default {MAX_REPEATS}; --quick: {QUICK.max_repeats})")
    g.add_argument("--quick", action="store_true",
                   help="small sizes, double precision, two peers: finishes in about a minute")
    g.add_argument("--mpi", type=_ints("rank count list", 1, 1024), default=None, metavar="RANKS",
                   help="instead of the table above: W1 (or W3 with -w W3) on the MPI backend with the state split "
                        "over each rank count (mpiexec -n RANKS; powers of two, e.g. 2 or 1,2,4) beside the "
                        "single-process engine: time, bytes exchanged per rank, time in communication "
                        f"(default qubits {_span(MPI_QUBITS)}; needs the mpi extra)")
    o = parser.add_argument_group("output")
    o.add_argument("--out", "-o", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for bench.json, bench.md and the plots (default ./{DEFAULT_OUT})")
    o.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--list", action="store_true", help="list workloads and simulators, then exit")


def options_from_args(args: argparse.Namespace) -> Options:
    """The harness options asked for by parsed ``args``."""
    return Options(
        workloads=args.workloads or WORKLOAD_ORDER,
        qubits=args.qubits, batch=args.batch, precisions=args.precision, threads=args.threads,
        backends=args.backends, peers=args.peers, budget=args.budget,
        layers=args.layers, seed=args.seed,
        quick=args.quick, max_repeats=args.max_repeats,
    )


def listing() -> str:
    """What ``--list`` prints."""
    lines = ["Workloads:"]
    for w in WORKLOADS.values():
        why = w.unavailable_reason()
        lines.append(f"  {w.name:5s} {w.title:42s} qubits {_span(w.default_qubits):8s} quick {_span(w.quick_qubits):7s}"
                     + (f" batch {w.default_batch}" if w.batched else "") + (f"  [unavailable: {why}]" if why else ""))
    lines += ["", "Simulators (workloads, precisions, status):"]
    seen = set()
    for w in WORKLOAD_ORDER:
        if WORKLOADS[w].unavailable_reason() and w == "HEAD":
            continue
        for a in adapters_for(w, BACKENDS, PEERS + ("torch-statevector",)):
            if (a.name, w == "HEAD") in seen:
                continue
            seen.add((a.name, w == "HEAD"))
            wls = ",".join(x for x in WORKLOAD_ORDER if x in a.workloads)
            why = a.unavailable_reason()
            ver = next((package_version(d) for d in a.distributions if package_version(d)), None)
            status = f"unavailable: {why}" if why else (f"installed {ver}" if ver else "available")
            lines.append(f"  {a.name:24s} {a.kind:4s} {wls:14s} {'/'.join(a.precisions):13s} {status}")
    lines += ["", f"Defaults: budget {DEFAULT_BUDGET:g} s per point, all installed peers, both precisions, "
                  f"all cores; --quick: budget {QUICK.budget:g} s, double, peers "
                  + "; ".join(f"{w}: {', '.join(ps)}" for w, ps in QUICK.peers_by_workload) + "."]
    return "\n".join(lines)


def _span(ns) -> str:
    ns = list(ns)
    return f"{ns[0]}-{ns[-1]}" if len(ns) > 1 and ns == list(range(ns[0], ns[-1] + 1)) else ",".join(map(str, ns))


def _command() -> str:
    argv = list(sys.argv)
    prog = Path(argv[0]).name if argv else "qhybrid"
    head = "python -m bench" if prog in ("__main__.py", "bench") else ("qhybrid bench" if prog == "qhybrid" else prog)
    rest = argv[2:] if prog == "qhybrid" else argv[1:]
    return " ".join([head] + [shlex.quote(a) for a in rest])


@contextlib.contextmanager
def _sigterm_as_interrupt(received: list[int]) -> Iterator[None]:
    """Within the block SIGTERM is forwarded to the running workers and raises ``KeyboardInterrupt``
    (the run stops as on Ctrl-C); ``received`` collects the signals (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame) -> None:
        received.append(signum)
        forward_signal(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark asked for by ``args``; print the table and where the files went."""
    if args.list:
        print(listing())
        return 0
    if args.mpi:
        return run_mpi(args)
    options = options_from_args(args)
    p = plan(options)
    if not p.jobs and not p.records:
        print("nothing to run: no workload/simulator combination selected", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    if any(t > cores for t in options.resolved().threads):
        log.warning("more threads than the %d cores of this machine", cores)
    interrupted = False
    received: list[int] = []
    stopped_code = lambda: 128 + (received[0] if received else signal.SIGINT)  # noqa: E731 - 130 / 143
    try:
        with _sigterm_as_interrupt(received):
            doc = run_benchmark(options, progress=not args.no_progress)
    except BenchInterrupted as exc:
        doc, interrupted = exc.document, True
        print("interrupted: writing the rows measured so far", file=sys.stderr)
    except KeyboardInterrupt:  # before the first configuration ran (planning, machine measurements)
        print("interrupted before any measurement: nothing to write", file=sys.stderr)
        return stopped_code()
    command = _command()
    paths = write_outputs(doc, args.out, command=command, plots=not args.no_plots)
    print(markdown(doc, command))
    counts = {s: sum(r["status"] == s for r in doc["records"]) for s in ("ok", "failed", "skipped")}
    print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped")
    print(f"wrote {paths['json']}, {paths['markdown']}" + "".join(f", {p}" for p in paths["plots"]))
    ours_failed = [r for r in doc["records"] if r["status"] == "failed" and r["simulator"].startswith("qhybrid")]
    for r in ours_failed:
        print(f"FAILED: {r['workload']} {r['simulator']} {r['dtype']} n={r['n_qubits']}: {r['reason']}",
              file=sys.stderr)
    return stopped_code() if interrupted else (1 if ours_failed else 0)


def run_mpi(args: argparse.Namespace) -> int:
    """``--mpi RANKS``: the MPI table (``mpi.json`` and ``mpi.md`` in ``--out``); 2 when MPI cannot run."""
    import json

    workloads = args.workloads or ("W1",)
    bad = [w for w in workloads if w not in ("W1", "W3")]
    if bad:
        print(f"--mpi runs W1 (forward) and W3 (adjoint gradient), not {', '.join(bad)}", file=sys.stderr)
        return 2
    dtype = "complex64" if (args.precision or ("double",))[0] == "single" else "complex128"
    rows, notes, doc = [], [], None
    try:
        for w in workloads:
            doc = run_mpi_benchmark(args.mpi, args.qubits, workload=w, dtype=dtype, layers=args.layers,
                                    seed=args.seed, budget=args.budget or 5.0, max_repeats=args.max_repeats or 5)
            rows += doc["rows"]
            notes += doc["notes"]
    except MPIBenchError as exc:
        print(f"qhybrid bench --mpi: {exc}", file=sys.stderr)
        return 2
    doc = dict(doc, rows=rows, notes=notes)
    command = _command()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mpi.json").write_text(json.dumps(doc, indent=1))
    table = mpi_markdown(doc, command)
    (out / "mpi.md").write_text(table + "\n")
    print(table)
    print(f"wrote {out / 'mpi.json'}, {out / 'mpi.md'}")
    return 0 if rows and all("max_abs_error_z" not in r or r["max_abs_error_z"] <= 1e-9 for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="Simulator throughput benchmark: qhybrid against installed peers.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    from .worker import log_level

    logging.basicConfig(level=log_level(), format="%(levelname)s %(name)s: %(message)s")
    return run(args)


#: The ``qhybrid bench`` sub-command (entry point ``bench`` of the ``qhybrid.commands`` group).
COMMAND = SimpleNamespace(help="simulator benchmarks (bench.cli)", add_arguments=add_arguments, run=run)


if __name__ == "__main__":  # python -m bench.cli
    raise SystemExit(main())
