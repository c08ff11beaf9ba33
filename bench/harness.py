"""Plan a benchmark run, execute each configuration in its own subprocess, collect the records.

A *configuration* is one workload × simulator × dtype × thread count; it runs in a fresh
``python -m bench.worker`` whose thread variables (:data:`THREAD_VARIABLES`) are fixed in its
environment before anything is imported.  Configurations run one at a time (never two timings
at once), the reference configuration of each workload (qhybrid-numba, complex128) first: it
stores the reference outputs every other row is checked against.

Stopping: Ctrl-C reaches only this process (every worker has its own session); SIGTERM, under
``bench.cli.run``, is forwarded to the live workers (:func:`forward_signal`).  Either way the
running worker gets SIGTERM, then SIGKILL after :data:`WORKER_GRACE_S`, and the rows measured so
far come back in :class:`BenchInterrupted`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .adapters import BACKENDS, DOUBLE, PEERS, SINGLE, adapters_for, get_adapter
from .measure import MAX_REPEATS, MIN_REPEATS, machine_info, open_energy_counter
from .schema import new_document, new_record, now_iso
from .workloads import DEFAULT_LAYERS, WORKLOAD_ORDER, build_problem, get_workload
from .worker import Job, MPIJob

__all__ = [
    "Options", "plan", "run_jobs", "run_benchmark", "BenchInterrupted", "THREAD_VARIABLES", "DEFAULT_BUDGET", "QUICK",
    "POINT_TIMEOUT_MIN", "POINT_TIMEOUT_BUDGETS", "STARTUP_ALLOWANCE", "WORKER_COMMAND", "WORKER_GRACE_S",
    "forward_signal", "run_mpi_benchmark", "mpi_markdown", "mpiexec_path", "MPIBenchError", "MPI_QUBITS",
    "MPI_TIMEOUT_S",
]

log = logging.getLogger(__name__)

#: Seconds of timed repeats per point by default; the untimed first run (warm-up and agreement
#: check) comes on top, and a size whose single run is predicted to exceed it is skipped.
DEFAULT_BUDGET = 10.0
#: A point is killed after ``max(POINT_TIMEOUT_MIN, POINT_TIMEOUT_BUDGETS · budget)`` seconds ...
POINT_TIMEOUT_MIN = 300.0
POINT_TIMEOUT_BUDGETS = 4.0
#: ... plus this much for the first point of a worker (imports, JIT compilation of new kernels).
STARTUP_ALLOWANCE = 180.0
#: Characters of a crashed worker's stderr kept in the row's reason.
STDERR_TAIL = 400
#: The worker process (the harness writes a :class:`~bench.worker.Job` to its stdin).
WORKER_COMMAND = (sys.executable, "-m", "bench.worker")
#: Seconds a worker has to exit after SIGTERM when the run is stopped, before it is killed.
WORKER_GRACE_S = 5.0
#: Workers running now (to forward a signal to).
_LIVE_WORKERS: set[subprocess.Popen] = set()
#: Environment variables that fix the thread count of every library before import.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "QULACS_NUM_THREADS",
                    "RAYON_NUM_THREADS")


@dataclass(frozen=True)
class QuickSettings:
    """``--quick``: small sizes, double precision, two peers, a short budget (about a minute)."""

    budget: float = 0.25
    max_repeats: int = 10
    precisions: tuple[str, ...] = (DOUBLE,)
    peers: tuple[str, ...] = ("qulacs", "pennylane-lightning", "pennylane-default", "qiskit-aer", "torch-statevector")
    #: Two peers per workload: the fastest kinds for each (lightning splits W2's batch into one
    #: tape per sample, seconds per run; default.qubit broadcasts it natively).
    peers_by_workload: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("W1", ("qulacs", "pennylane-lightning")), ("W2", ("qulacs", "pennylane-default")),
        ("W3", ("qulacs", "pennylane-lightning")), ("HEAD", ("torch-statevector",)),
        ("W4", ("qulacs", "qiskit-aer")))
    backends: tuple[str, ...] = ("numba",)


QUICK = QuickSettings()


@dataclass(frozen=True)
class Options:
    """What to run; ``None`` fields take the quick, workload or machine default."""

    workloads: tuple[str, ...] = WORKLOAD_ORDER
    qubits: tuple[int, ...] | None = None
    batch: tuple[int, ...] | None = None
    precisions: tuple[str, ...] | None = None
    threads: tuple[int, ...] | None = None
    backends: tuple[str, ...] | None = None
    peers: tuple[str, ...] | None = None
    budget: float | None = None
    layers: int = DEFAULT_LAYERS
    seed: int = 0
    quick: bool = False
    max_repeats: int | None = None

    def resolved(self) -> "Options":
        """Defaults filled in (``--quick`` ones where quick); explicit values always win."""
        q = self.quick
        return replace(
            self,
            budget=self.budget if self.budget is not None else (QUICK.budget if q else DEFAULT_BUDGET),
            max_repeats=self.max_repeats if self.max_repeats is not None else (QUICK.max_repeats if q else MAX_REPEATS),
            precisions=self.precisions or (QUICK.precisions if q else (DOUBLE, SINGLE)),
            peers=self.peers if self.peers is not None else (QUICK.peers if q else None),
            backends=self.backends if self.backends is not None else (QUICK.backends if q else None),
            threads=self.threads or (os.cpu_count() or 1,),
        )


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)   # rows decided without running (unavailable)
    notes: list[str] = field(default_factory=list)

    @property
    def n_points(self) -> int:
        return sum(len(j.sizes) for j in self.jobs)


def _sizes(wl, options: Options) -> list[tuple[int, int]]:
    qubits = options.qubits or (wl.quick_qubits if options.quick else wl.default_qubits)
    if wl.batched:
        batches = options.batch or ((wl.quick_batch or wl.default_batch) if options.quick else wl.default_batch,)
    else:
        batches = (1,)
    return sorted({(int(n), int(b)) for n in qubits for b in batches})


def _skip_rows(workload: str, simulator: str, backend: str, dtype: str, threads: int, sizes, layers: int,
               reason: str, device: str = "cpu") -> list[dict]:
    return [new_record(workload=workload, simulator=simulator, backend=backend, device=device, n_qubits=n,
                       batch=b, layers=layers, dtype=dtype, threads=threads, status="skipped", reason=reason)
            for n, b in sizes]


def plan(options: Options) -> Plan:
    """The configurations to run (reference first per workload) and the rows skipped up front."""
    o = options.resolved()
    out = Plan()
    peers_explicit = options.peers is not None
    peers = tuple(o.peers) if o.peers is not None else PEERS
    backends_explicit = options.backends is not None
    backends = tuple(o.backends) if o.backends is not None else BACKENDS
    top_threads = max(o.threads)
    for name in o.workloads:
        wl = get_workload(name)
        sizes = _sizes(wl, o)
        layers = o.layers if wl.layered else 0
        why = wl.unavailable_reason()
        if why is not None:
            sim = "qhybrid" if wl.name == "HEAD" else "qhybrid-numba"
            out.records += _skip_rows(wl.name, sim, "hybrid_step" if wl.name == "HEAD" else "numba",
                                      "float64" if wl.name == "HEAD" else "complex128", top_threads, sizes,
                                      layers, why)
            out.notes.append(f"{wl.name}: skipped ({why})")
            continue
        probe = build_problem(wl.name, sizes[0][0], sizes[0][1], o.layers, o.seed)
        wl_peers = peers
        if o.quick and not peers_explicit:
            wl_peers = dict(QUICK.peers_by_workload).get(wl.name, peers)
        for adapter in adapters_for(wl.name, backends, wl_peers):
            why = adapter.unavailable_reason()
            dtypes = [d for p in o.precisions for d in adapter.dtypes(wl.name, p, probe)]
            is_ref_adapter = adapter.kind == "ours" and adapter.name in ("qhybrid-numba", "qhybrid")
            ref_dtype = adapter.dtypes(wl.name, DOUBLE, probe)[0] if is_ref_adapter else None
            if is_ref_adapter and ref_dtype not in dtypes:
                dtypes = [ref_dtype] + dtypes     # the reference always runs
            if why is not None:
                asked = (adapter.kind == "peer" and peers_explicit) or (adapter.kind == "ours" and backends_explicit)
                if asked:
                    for d in dtypes or ["complex128"]:
                        out.records += _skip_rows(wl.name, adapter.name, adapter.name, d, top_threads, sizes,
                                                  layers, why, adapter.device)
                out.notes.append(f"{wl.name}/{adapter.name}: not run ({why})")
                continue
            for dtype in dtypes:
                for t in sorted(set(o.threads), reverse=True):
                    ref = is_ref_adapter and dtype == ref_dtype and t == top_threads
                    job = Job(workload=wl.name, simulator=adapter.name, dtype=dtype, threads=t, sizes=list(sizes),
                              layers=o.layers, seed=o.seed, budget=o.budget, reference=ref,
                              min_repeats=MIN_REPEATS, max_repeats=o.max_repeats)
                    if ref:
                        out.jobs.insert(next((i for i, j in enumerate(out.jobs) if j.workload == wl.name),
                                             len(out.jobs)), job)
                    else:
                        out.jobs.append(job)
    return out


def worker_env(threads: int) -> dict[str, str]:
    """The environment of a worker: thread variables fixed, this package importable."""
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def point_timeout(budget: float) -> float:
    return max(POINT_TIMEOUT_MIN, POINT_TIMEOUT_BUDGETS * budget)


def _reader(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def _follow(proc: subprocess.Popen, q: queue.Queue, job: Job, timeout: float, done: set, on_record,
            on_point_start) -> tuple[str | None, tuple[int, int] | None]:
    """Read the worker's events until it exits or a point times out; returns ``(failure, current point)``."""
    current: tuple[int, int] | None = None
    deadline = time.monotonic() + timeout + STARTUP_ALLOWANCE
    while True:
        try:
            line = q.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            if time.monotonic() < deadline:
                continue
            _kill(proc)
            return f"timed out after {timeout:.0f} s ({f'n={current[0]}' if current else 'startup'})", current
        if line is None:
            return None, current
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            log.debug("worker said: %s", line.rstrip())
            continue
        if ev.get("event") == "start":
            current = (ev["n_qubits"], ev["batch"])
            deadline = time.monotonic() + timeout + (STARTUP_ALLOWANCE if not done else 0.0)
            on_point_start(job, current)
        elif ev.get("event") == "record":
            rec = ev["record"]
            done.add((rec["n_qubits"], rec["batch"]))
            on_record(rec)


def _run_job(job: Job, ref_dir: str, on_record, on_point_start, timeout: float | None = None) -> None:
    """Run one worker; every size of ``job`` ends up with exactly one record."""
    job = replace(job, ref_dir=ref_dir)
    timeout = point_timeout(job.budget) if timeout is None else timeout
    done: set[tuple[int, int]] = set()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as err:
        proc = subprocess.Popen(list(WORKER_COMMAND), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=worker_env(job.threads), text=True,
                                start_new_session=True)
        _LIVE_WORKERS.add(proc)
        try:
            q: queue.Queue = queue.Queue()
            threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
            try:
                proc.stdin.write(job.to_json())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            failure, current = _follow(proc, q, job, timeout, done, on_record, on_point_start)
        finally:
            if proc.poll() is None:       # interrupted: Ctrl-C reaches only us (the worker has its own session)
                _terminate(proc)
            _LIVE_WORKERS.discard(proc)
        rc = proc.wait()
        if len(done) == len(job.sizes):
            return
        err.seek(0)
        tail = err.read()[-STDERR_TAIL:].strip().replace("\n", " | ")
        if failure is None:
            sig = f"signal {-rc}" if rc < 0 else f"code {rc}"
            hint = " (killed: out of memory?)" if rc in (-signal.SIGKILL, 137) else ""
            failure = f"worker exited with {sig}{hint}" + (f": {tail}" if tail else "")
    adapter = get_adapter(job.simulator, job.workload)
    for n, b in job.sizes:
        if (n, b) in done:
            continue
        bad = current is None or (n, b) == current
        on_record(new_record(workload=job.workload, simulator=job.simulator,
                             backend=getattr(adapter, "backend", adapter.name), device=adapter.device,
                             n_qubits=n, batch=b, layers=job.layers if get_workload(job.workload).layered else 0,
                             dtype=job.dtype, threads=job.threads, status="failed" if bad else "skipped",
                             reason=failure if bad else "not run: the worker stopped at a smaller size"))


def _kill(proc: subprocess.Popen) -> None:
    """Kill the worker we started (its own session) and everything it spawned."""
    _signal_worker(proc, signal.SIGKILL)


def _signal_worker(proc: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to the worker's process group (its own session: the worker and its children)."""
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass


def _terminate(proc: subprocess.Popen, grace: float | None = None) -> None:
    """Stop a worker of an interrupted run: SIGTERM, then SIGKILL after ``grace`` seconds."""
    _signal_worker(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=WORKER_GRACE_S if grace is None else grace)
    except subprocess.TimeoutExpired:
        log.warning("worker %d did not exit %.0f s after SIGTERM: killing it", proc.pid,
                    WORKER_GRACE_S if grace is None else grace)
        _kill(proc)


def forward_signal(signum: int) -> None:
    """Send ``signum`` to every running worker (called from a signal handler)."""
    for proc in list(_LIVE_WORKERS):
        if proc.poll() is None:
            _signal_worker(proc, signum)


def run_jobs(jobs: list[Job], *, progress: bool = True, ref_dir: str | None = None,
             timeout: float | None = None) -> list[dict]:
    """Run the workers one after another (progress bar over points); returns their records."""
    from tqdm import tqdm

    records: list[dict] = []
    total = sum(len(j.sizes) for j in jobs)
    with tempfile.TemporaryDirectory(prefix="qhybrid-bench-ref-") as tmp, \
            tqdm(total=total, desc="bench", unit="pt", disable=not progress, dynamic_ncols=True) as bar:
        folder = ref_dir or tmp

        def on_start(job: Job, size) -> None:
            bar.set_postfix_str(f"{job.workload} {job.simulator} {job.dtype} t={job.threads} n={size[0]}")

        def on_record(rec: dict) -> None:
            records.append(rec)
            bar.update(1)
            if rec["status"] == "failed":
                log.warning("%s %s %s n=%d: %s", rec["workload"], rec["simulator"], rec["dtype"], rec["n_qubits"],
                            rec["reason"])

        try:
            for job in jobs:
                t0 = time.monotonic()
                _run_job(job, folder, on_record, on_start, timeout)
                log.info("%s %s %s threads=%d: %d points in %.1f s", job.workload, job.simulator, job.dtype,
                         job.threads, len(job.sizes), time.monotonic() - t0)
        except KeyboardInterrupt:
            raise BenchInterrupted(records) from None
    return records


class BenchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: ``records`` (or ``document``) holds what was measured until then."""

    def __init__(self, records: list[dict], document: dict | None = None) -> None:
        super().__init__("benchmark interrupted")
        self.records = records
        self.document = document


def log_energy_counters(jobs: list[Job]) -> dict[str, str]:
    """Say once per device kind whether the rows will carry energy (RAPL on CPU, NVML on GPU).

    Returns ``{device: reason}`` for the kinds whose counters are not readable (their rows store
    null ``energy_j`` / ``power_w``).
    """
    devices = sorted({get_adapter(j.simulator, j.workload).device for j in jobs})
    missing = {}
    for device in devices:
        counter, why = open_energy_counter(device)
        if counter is None:
            missing[device] = why
            log.warning("%s rows: energy not measured, energy_j/power_w stay null (%s)", device, why)
        else:
            log.info("%s rows: energy measured with %s", device, counter.detail)
            counter.close()
    return missing


def run_benchmark(options: Options, *, progress: bool = True) -> dict:
    """Plan, measure the machine, run every configuration; returns the validated document.

    On Ctrl-C raises :class:`BenchInterrupted` whose ``document`` holds the rows measured so far.
    """
    created = now_iso()
    p = plan(options)
    for note in p.notes:
        log.info(note)
    machine = machine_info()
    log_energy_counters(p.jobs)
    try:
        records = list(p.records) + run_jobs(p.jobs, progress=progress)
    except BenchInterrupted as exc:
        raise BenchInterrupted(exc.records, new_document(machine, list(p.records) + exc.records, created)) from None
    return new_document(machine, records, created=created)


# ------------------------------------------------------------------------------------------- MPI
#: Registers of ``--mpi`` when ``--qubits`` is not given.
MPI_QUBITS = (22, 23, 24, 25, 26)
#: Seconds one ``mpiexec`` run of ``--mpi`` may take (all its sizes), before it is killed.
MPI_TIMEOUT_S = 3600.0


class MPIBenchError(RuntimeError):
    """``--mpi`` cannot run here (one line: what is missing or wrong)."""


def mpiexec_path() -> str | None:
    """``mpiexec`` of this Python's environment (the ``mpich`` wheel puts it beside the
    interpreter), else the first on ``PATH``."""
    import shutil

    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def _check_mpi_setup(rank_counts, qubits) -> str:
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:
        raise MPIBenchError("--mpi needs mpi4py and an MPI library: pip install -e '.[mpi]'")
    exe = mpiexec_path()
    if exe is None:
        raise MPIBenchError("--mpi needs mpiexec (pip install mpich, or a system MPI) on PATH or beside python")
    for p in rank_counts:
        if p < 1 or p & (p - 1):
            raise MPIBenchError(f"--mpi {p}: the rank count must be a power of two (1, 2, 4, 8, ...)")
    from qsim.backends.mpi_backend import MIN_LOCAL_QUBITS

    for p in rank_counts:
        g = p.bit_length() - 1
        small = [n for n in qubits if n - g < MIN_LOCAL_QUBITS]
        if small:
            raise MPIBenchError(f"--mpi {p}: {p} ranks make {g} qubits global and leave fewer than {MIN_LOCAL_QUBITS} "
                                f"local at n = {small[0]} (more global qubits than the circuit can give)")
    return exe


def run_mpi_benchmark(rank_counts, qubits=None, *, workload: str = "W1", dtype: str = "complex128",
                      layers: int = DEFAULT_LAYERS, seed: int = 0, budget: float = 5.0,
                      max_repeats: int = MAX_REPEATS, timeout: float = MPI_TIMEOUT_S) -> dict:
    """``qhybrid bench --mpi``: W1 (or W3) on the MPI backend's state split, one ``mpiexec -n P``
    per rank count ``P`` (and ``P = 1`` with the single-process Numba engine beside it, on every
    core).  Each rank runs ``cores / P`` Numba threads.  Returns ``{"rows", "notes", "mpi"}``.

    Raises:
        MPIBenchError: mpi4py or mpiexec missing, a rank count not a power of two, too few local qubits.
    """
    qubits = tuple(qubits or MPI_QUBITS)
    counts = sorted({1, *rank_counts})
    exe = _check_mpi_setup(counts, qubits)
    cores = os.cpu_count() or 1
    from .measure import available_memory

    itemsize = {"complex128": 16, "complex64": 8, "float64": 8, "float32": 4}[dtype]
    copies = 3 if workload == "W3" else 1          # ψ and λ, plus the gather of the initial state's slice
    rows, notes = [], []
    for P in counts:
        fit = [n for n in qubits if copies * itemsize * 2**n < 0.8 * available_memory()]   # all ranks on this node
        for n in qubits:
            if n not in fit:
                notes.append(f"n={n} on {P} ranks skipped: needs about {copies * itemsize * 2**n / 2**30:.1f} GiB")
        if not fit:
            continue
        job = MPIJob(ranks=P, qubits=fit, workload=workload, dtype=dtype, layers=layers, seed=seed, budget=budget,
                     max_repeats=max_repeats, baseline=(P == 1))
        threads = max(1, cores // P)
        env = worker_env(threads)
        env["QSIM_MPI_THREADS"] = str(threads)
        cmd = [exe, "-n", str(P), sys.executable, "-m", "bench.worker", "--mpi", job.to_json()]
        log.info("running %s", " ".join(cmd[:4]))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            notes.append(f"{P} ranks: timed out after {timeout:.0f} s")
            continue
        got = [json.loads(line)["record"] for line in proc.stdout.splitlines()
               if line.startswith('{"event": "mpi-record"')]
        rows += got
        if proc.returncode != 0:
            tail = proc.stderr[-STDERR_TAIL:].strip().replace("\n", " | ")
            notes.append(f"{P} ranks: mpiexec exited with {proc.returncode} after {len(got)} sizes: {tail}")
    base = {r["n_qubits"]: r for r in rows if r["ranks"] == 1 and "baseline_time_s" in r}
    for r in rows:
        b = base.get(r["n_qubits"])
        if b is not None:
            r["vs_one_process"] = r["time_s"]["median"] / b["baseline_time_s"]["median"]
            r["max_abs_error_z"] = max(abs(x - y) for x, y in zip(r["z"], b["z"]))
    from qsim.backends.mpi_backend import EXCHANGE_CHUNK_BYTES

    return {"rows": rows, "notes": notes, "created": now_iso(), "cores": cores,
            "mpi": {"mpiexec": exe, "chunk_bytes": EXCHANGE_CHUNK_BYTES}}


def mpi_markdown(doc: dict, command: str = "") -> str:
    """The ``--mpi`` table: per n and rank count the median time, the ratio to the single-process
    engine, exchanges, MiB sent per rank, the fraction of time in MPI calls and in packing."""
    lines = []
    if command:
        lines += [f"`{command}`", ""]
    lines += ["| workload | n | ranks | threads/rank | time (s) | single-process engine (s) | ratio | exchanges | "
              "MiB sent/rank | comm % | pack % | sweeps/rank | max abs dZ |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(doc["rows"], key=lambda r: (r["workload"], r["n_qubits"], r["ranks"])):
        b = r.get("baseline_time_s")
        lines.append(
            f"| {r['workload']} | {r['n_qubits']} | {r['ranks']} | {r['threads_per_rank']} | "
            f"{r['time_s']['median']:.4g} | "
            + (f"{b['median']:.4g}" if b else "") + " | "
            + (f"{r['vs_one_process']:.2f}" if "vs_one_process" in r else "") + " | "
            + f"{r['exchanges']} | {r['bytes_sent_per_rank'] / 2**20:.0f} | {100 * r['comm_fraction']:.1f} | "
            + f"{100 * r['pack_fraction']:.1f} | {r['sweeps_per_rank']:.0f} | "
            + (f"{r['max_abs_error_z']:.1e}" if "max_abs_error_z" in r else "") + " |")
    lines += [""] + [f"* {note}" for note in doc["notes"]]
    return "\n".join(lines)
