"""One benchmark configuration (workload × simulator × dtype × threads) over its sizes.

The harness starts ``python -m bench.worker`` once per configuration, with the thread
variables already in its environment, writes a :class:`Job` as JSON to its stdin and reads one
JSON line per event from its stdout: ``{"event": "start", "n_qubits", "batch"}`` before a point
and ``{"event": "record", "record": {...}}`` after it.  :func:`run_config` is the same loop,
callable in-process (tests use it with deliberately wrong adapters).

Per point: skip when the register exceeds the adapter's limit, the memory estimate exceeds the
available memory, or one run, predicted from the previous size, would exceed the budget; else
prepare, warm up, check the output against the reference (failed rows get no times), time the
repeats with the device's energy counter read around them (RAPL on CPU, NVML on GPU:
:func:`energy.measure.open_energy_counter`; null fields where unreadable), and measure the copy
bandwidth of a buffer of the same size for the roofline.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

from .adapters import Adapter, AdapterUnavailable, get_adapter
from .agreement import (
    HEAD_LOSS_TOL, NUMPY_REFERENCE_MAX_QUBITS, AgreementError, ReferenceStore, compare, fingerprint, tolerance,
)
from .measure import (
    COPY_MAX_BYTES, MAX_REPEATS, MEMORY_HEADROOM, MIN_REPEATS, WARMUP_RUNS, available_memory, copy_bandwidth,
    energy_fields, load_average, open_energy_counter, time_repeats_with_energy,
)
from .schema import BYTES_PER_AMPLITUDE, new_record
from .workloads import build_problem, get_workload

__all__ = ["Job", "MPIJob", "mpi_main", "run_config", "main", "log_level", "BANDWIDTH_WORKLOADS", "PREDICTION_FLOOR_S",
           "REFERENCE_TIME_CAP_S"]

log = logging.getLogger(__name__)

#: Sizes predicted to run faster than this are never skipped for time: at small sizes fixed
#: overheads dominate and the 2**n extrapolation would overestimate them.
PREDICTION_FLOOR_S = 0.5
#: The reference configuration (whose outputs every other row is checked against) still runs a
#: size predicted over the budget, up to this many seconds per run: peers that fit the budget
#: keep a reference.
REFERENCE_TIME_CAP_S = 60.0
#: Workloads whose rows of ours report effective bandwidth (state-vector forward sweeps).
BANDWIDTH_WORKLOADS = frozenset({"W1", "W2", "G1"})


@dataclass
class Job:
    """One configuration: what the worker runs."""

    workload: str
    simulator: str
    dtype: str
    threads: int
    sizes: list[tuple[int, int]]
    layers: int = 4
    seed: int = 0
    budget: float = 5.0
    reference: bool = False
    ref_dir: str | None = None
    min_repeats: int = MIN_REPEATS
    max_repeats: int = MAX_REPEATS

    @classmethod
    def from_json(cls, text: str) -> "Job":
        d = json.loads(text)
        d["sizes"] = [tuple(s) for s in d["sizes"]]
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def run_config(job: Job, adapter: Adapter, emit: Callable[[dict], None]) -> None:
    """Run every size of ``job`` with ``adapter``; ``emit`` receives the events."""
    counter, why = open_energy_counter(adapter.device)
    if counter is None:
        log.info("%s on %s: energy not measured (%s)", adapter.name, adapter.device, why)
    try:
        _run_sizes(job, adapter, emit, counter)
    finally:
        if counter is not None:
            counter.close()


def _run_sizes(job: Job, adapter: Adapter, emit: Callable[[dict], None], counter) -> None:
    wl = get_workload(job.workload)
    store = ReferenceStore(job.ref_dir) if job.ref_dir else None
    dtype = job.dtype
    bpa = BYTES_PER_AMPLITUDE[dtype]
    last: tuple[float, float] | None = None          # (work, median time) of the last measured size
    prepared = None
    for n, batch in job.sizes:
        prepared = None                               # free the previous size's state first
        emit({"event": "start", "n_qubits": n, "batch": batch})
        problem = build_problem(job.workload, n, batch, job.layers, job.seed)
        work = wl.work(n, problem.batch, job.layers)
        common = dict(workload=job.workload, simulator=adapter.name, device=adapter.device, n_qubits=n,
                      batch=problem.batch, layers=problem.layers, dtype=dtype, threads=job.threads,
                      n_gates=problem.n_gates)
        backend = getattr(adapter, "backend", adapter.name)

        def finish(status: str, reason: str | None, **kw) -> None:
            rec = new_record(**common, backend=kw.pop("backend", backend), status=status, reason=reason,
                             load_avg=load_average(), **kw)
            emit({"event": "record", "record": rec})

        # ---- skip rules
        if adapter.max_qubits is not None and n > adapter.max_qubits:
            finish("skipped", f"{adapter.name} runs up to {adapter.max_qubits} qubits only")
            continue
        state_bytes = bpa * wl.amplitudes(n, problem.batch)
        need = state_bytes * adapter.memory_factor + 2 * min(state_bytes, COPY_MAX_BYTES)
        avail = available_memory() * MEMORY_HEADROOM
        if need > avail:
            finish("skipped", f"needs about {_gib(need)}, {_gib(avail)} usable")
            continue
        if last is not None:
            predicted = last[1] * work / last[0]
            limit = max(job.budget, REFERENCE_TIME_CAP_S) if job.reference else job.budget
            if predicted > PREDICTION_FLOOR_S and predicted > limit:
                finish("skipped", f"predicted {predicted:.3g} s per run exceeds the budget of {job.budget:g} s")
                continue
        # ---- prepare, warm up, check, time
        try:
            prepared = adapter.prepare(problem, dtype, job.threads)
            backend = prepared.backend
            t0 = time.perf_counter()
            raw = prepared.run()
            first = time.perf_counter() - t0
            out = fingerprint(prepared.result(raw), n)
            del raw
            for _ in range(WARMUP_RUNS - 1):
                prepared.run()
            ref = _reference(job, prepared, problem, store, out)
            if ref is None:
                finish("skipped", "no reference output at this size (the reference run did not produce one)")
                continue
            err = None if ref is out else compare(out, ref)
            tol = HEAD_LOSS_TOL if job.workload == "HEAD" else tolerance(dtype)
            if err is not None and not err <= tol:
                finish("failed", f"disagrees with the reference: max |error| = {err:.3g} > {tol:g}",
                       max_abs_error=err if err != float("inf") else None)
                continue
            times, reading = time_repeats_with_energy(prepared.run, job.budget, counter,
                                                      min_repeats=job.min_repeats, max_repeats=job.max_repeats,
                                                      first_run=first)
        except AdapterUnavailable as exc:
            finish("skipped", str(exc))
            continue
        except AgreementError as exc:
            finish("failed", f"output not comparable with the reference: {exc}")
            continue
        except MemoryError:
            finish("failed", f"out of memory ({_gib(state_bytes)} per copy of the state)")
            continue
        except Exception as exc:  # noqa: BLE001 - any simulator error fails this row, not the run
            log.debug("point failed", exc_info=True)
            finish("failed", f"{type(exc).__name__}: {exc}"[:500])
            continue
        median = statistics.median(times)
        eff = frac = None
        n_passes = prepared.n_passes
        if adapter.kind == "ours" and n_passes is not None and job.workload in BANDWIDTH_WORKLOADS and median > 0:
            eff = 2.0 * state_bytes * (prepared.sweeps or n_passes) / median
            frac = eff / copy_bandwidth(min(state_bytes, COPY_MAX_BYTES))
        finish("ok", None, times=times, n_passes=n_passes, effective_bandwidth_bytes_per_s=eff,
               roofline_fraction=frac, max_abs_error=err, **energy_fields(reading, len(times)))
        last = (work, median)


def _reference(job: Job, prepared, problem, store: ReferenceStore | None, out: dict):
    """The fingerprint this point's output is compared with (``out`` itself: nothing to compare)."""
    ref = None
    if prepared.reference is not None:
        ref = prepared.reference()
    elif job.reference and problem.n_qubits <= NUMPY_REFERENCE_MAX_QUBITS:
        from .adapters.qhybrid import oracle_output

        oracle = oracle_output(problem)
        ref = None if oracle is None else fingerprint(oracle, problem.n_qubits)
    if job.reference:
        if store is not None:
            store.save(problem.key, ref if ref is not None else out)
        return ref if ref is not None else out
    if ref is not None:
        return ref
    return store.load(problem.key) if store is not None else None


def log_level(default: str = "WARNING") -> str:
    """Log level from ``$QHYBRID_BENCH_LOG`` (``info``, ``DEBUG``, ...); ``default`` when unset or unknown."""
    name = os.environ.get("QHYBRID_BENCH_LOG", default).upper()
    return name if isinstance(logging.getLevelName(name), int) else default


# ------------------------------------------------------------------------------------------- MPI
@dataclass
class MPIJob:
    """One ``mpiexec -n ranks python -m bench.worker --mpi JOB`` run (:func:`mpi_main`): W1 forward
    (``workload="W1"``) or its adjoint gradient (``"W3"``) at each of ``qubits`` on the MPI
    backend's state split, and, with ``baseline`` (one rank only: waiting ranks would spin), the
    single-process Numba engine beside it."""

    ranks: int
    qubits: list[int]
    workload: str = "W1"
    dtype: str = "complex128"
    layers: int = 4
    seed: int = 0
    budget: float = 5.0
    max_repeats: int = MAX_REPEATS
    baseline: bool = False

    @classmethod
    def from_json(cls, text: str) -> "MPIJob":
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _more(job: MPIJob, times: list, t_start: float) -> bool:
    return len(times) < job.max_repeats and (len(times) < MIN_REPEATS or time.perf_counter() - t_start < job.budget)


def _mpi_point(job: MPIJob, n: int, comm, MB) -> dict:
    """Time one size on every rank; rank 0 gets the row (medians over repeats, counters per rank)."""
    import numpy as np

    from qsim import z_each
    from qsim.backends import numba_backend as NB
    from qsim.program import BACKWARD_FUSION, lower
    from qsim.program.plan import exchange_count, exchange_slices

    problem = build_problem(job.workload, n, 1, job.layers, job.seed)
    prog = lower(problem.circuit)
    obs = z_each(n)
    dtype = np.dtype(job.dtype).type
    grad = job.workload == "W3"
    back = lower(problem.circuit, BACKWARD_FUSION)
    cot = np.ones((1, n))

    def run_mpi():
        if grad:
            return MB.adjoint(prog, obs, cot, problem.weights, None, None, 1, dtype, backward_program=back)
        return MB.forward(prog, problem.weights, None, None, 1, dtype)

    first = run_mpi()                                   # warm-up: kernels, schedules
    z = (first[0] if grad else MB.expvals(first, obs, n))[0]
    del first
    times, comm_f, pack_f, sent, exch = [], [], [], [], []
    t_start = time.perf_counter()
    while _more(job, times, t_start):
        MB.reset_stats()
        comm.Barrier()
        t0 = time.perf_counter()
        out = run_mpi()
        comm.Barrier()
        dt = time.perf_counter() - t0
        del out
        st = MB.stats()
        times.append(dt)
        comm_f.append(st.comm_s / dt)
        pack_f.append(st.pack_s / dt)
        sent.append(st.bytes_sent)
        exch.append(st.exchanges)
    per_rank = comm.gather((statistics.median(comm_f), statistics.median(pack_f), max(sent), max(exch)), root=0)
    sweeps = MB.memory_sweeps(prog, 1, dtype)
    base = None
    if job.baseline:
        base_times, z_ref = [], None
        if comm.Get_rank() == 0:
            run = ((lambda: NB.adjoint(prog, obs, cot, problem.weights, None, None, 1, dtype, backward_program=back))
                   if grad else (lambda: NB.forward(prog, problem.weights, None, None, 1, dtype)))
            first = run()
            z_ref = (first[0] if grad else NB.expvals(first, obs, n))[0]
            del first
            t_start = time.perf_counter()
            while _more(job, base_times, t_start):
                t0 = time.perf_counter()
                run()
                base_times.append(time.perf_counter() - t0)
        base = (base_times, z_ref)
        comm.Barrier()
    if comm.Get_rank() != 0:
        return {}
    g = comm.Get_size().bit_length() - 1
    row = {
        "workload": job.workload, "n_qubits": n, "ranks": comm.Get_size(), "dtype": job.dtype, "layers": job.layers,
        "time_s": {"min": min(times), "median": statistics.median(times), "max": max(times)}, "repeats": len(times),
        "exchanges": max(p[3] for p in per_rank), "planned_exchanges": exchange_count(prog, g) if g else 0,
        "bytes_sent_per_rank": max(p[2] for p in per_rank),
        "slices_sent": exchange_slices(prog, g) if g else 0.0,
        "comm_fraction": max(p[0] for p in per_rank), "pack_fraction": max(p[1] for p in per_rank),
        "sweeps_per_rank": sweeps, "threads_per_rank": __import__("numba").get_num_threads(),
        "load_avg": load_average(), "z": [float(v) for v in np.asarray(z).real],
    }
    if base is not None:
        bt, z_ref = base
        row["baseline_time_s"] = {"min": min(bt), "median": statistics.median(bt), "max": max(bt)}
        row["max_abs_error_z"] = float(np.max(np.abs(np.asarray(z) - np.asarray(z_ref))))
    return row


def mpi_main(job_text: str) -> int:
    """Entry of ``python -m bench.worker --mpi JOB`` under ``mpiexec``: every rank runs the points,
    rank 0 prints one JSON line per row (``{"event": "mpi-record", "record": {...}}``)."""
    from qsim.backends import mpi_backend as MB

    job = MPIJob.from_json(job_text)
    comm = MB.communicator()
    if comm.Get_size() != job.ranks:
        raise SystemExit(f"bench.worker --mpi: launched on {comm.Get_size()} ranks, the job says {job.ranks}")
    if job.baseline and job.ranks != 1:
        raise SystemExit("bench.worker --mpi: the single-process baseline runs in a one-rank job only")
    MB.set_mode("state")
    for n in job.qubits:
        row = _mpi_point(job, n, comm, MB)
        if row:
            print(json.dumps({"event": "mpi-record", "record": row}), flush=True)
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--mpi":      # under mpiexec: bench.harness.run_mpi_benchmark
        logging.basicConfig(level=log_level(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        return mpi_main(sys.argv[2])
    # The protocol gets the original stdout; anything a simulator prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=log_level(), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")

    def emit(event: dict) -> None:
        proto.write(json.dumps(event) + "\n")
        proto.flush()

    job = Job.from_json(sys.stdin.read())
    adapter = get_adapter(job.simulator, job.workload)
    if job.workload == "HEAD":
        from .adapters.head import head_dtype

        declared = head_dtype(job.simulator)
        if declared in BYTES_PER_AMPLITUDE:
            job.dtype = declared
    run_config(job, adapter, emit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
