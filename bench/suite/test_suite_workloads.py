"""pytest-benchmark regression suite over the bench workloads, ours and the installed peers.

Run::

    pytest bench/suite -m benchmark --benchmark-enable            # add --benchmark-autosave to keep a baseline

Each case prepares the point once, checks its output against the reference (the NumPy oracle up
to 16 qubits, else qhybrid-numba complex128) and then lets pytest-benchmark time ``run()``.  This
runs in-process: fix thread counts in the environment (``NUMBA_NUM_THREADS``,
``OMP_NUM_THREADS``) before starting pytest.  For the side-by-side report with per-configuration
subprocesses use ``qhybrid bench`` instead.
"""

from __future__ import annotations

import functools
import os
import warnings

import pytest

from bench.adapters import DOUBLE, SINGLE, get_adapter
from bench.adapters.qhybrid import oracle_output
from bench.agreement import HEAD_LOSS_TOL, NUMPY_REFERENCE_MAX_QUBITS, compare, fingerprint, tolerance
from bench.workloads import WORKLOADS, build_problem

pytestmark = pytest.mark.benchmark

#: Sizes of the suite (small enough for a regression run of a few minutes on 2 cores).
SIZES = {"W1": (12, 16, 20), "W2": (8,), "W3": (8, 12, 16), "G1": (22,), "W4": (6, 8), "HEAD": (14,)}
#: Timed rounds per case (one untimed warm-up run precedes them, in ``_prepare``).
ROUNDS = 5
#: Slow pure-Python peers are only run up to this many state entries (W1: 14 qubits, W4: 7).
SLOW_PEER_MAX_AMPLITUDES = 1 << 14
SLOW_PEERS = ("pennylane-default", "pennylane-mixed", "cirq")
SIMULATORS = ("qhybrid-numba", "qhybrid-numba-forward", "qulacs", "pennylane-lightning", "pennylane-default",
              "pennylane-mixed", "qiskit-aer", "qsimcirq", "cirq")
#: HEAD implementations timed here (PennyLane's TorchLayer step takes tens of seconds at 14
#: qubits: compare it with ``qhybrid bench -w HEAD``).
HEAD_IMPLEMENTATIONS = ("qhybrid", "torch-statevector")
THREADS = int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))


def _cases():
    out = []
    for workload, sizes in SIZES.items():
        if WORKLOADS[workload].unavailable_reason():
            continue
        for sim in HEAD_IMPLEMENTATIONS if workload == "HEAD" else SIMULATORS:
            adapter = get_adapter(sim, workload)
            if workload not in adapter.workloads:
                continue
            for precision in (DOUBLE, SINGLE):
                probe = build_problem(workload, sizes[0])
                for dtype in adapter.dtypes(workload, precision, probe):
                    for n in sizes:
                        if sim in SLOW_PEERS and WORKLOADS[workload].amplitudes(n, 1) > SLOW_PEER_MAX_AMPLITUDES:
                            continue
                        out.append(pytest.param(workload, sim, dtype, n, id=f"{workload}-{sim}-{dtype}-n{n}"))
    return out


@functools.lru_cache(maxsize=None)
def _reference(workload: str, n: int):
    problem = build_problem(workload, n)
    oracle = oracle_output(problem) if n <= NUMPY_REFERENCE_MAX_QUBITS else None
    if oracle is not None:
        return fingerprint(oracle, n)
    ref = "qhybrid" if workload == "HEAD" else "qhybrid-numba"
    dtype = get_adapter(ref, workload).dtypes(workload, DOUBLE, problem)[0]
    prepared = get_adapter(ref, workload).prepare(problem, dtype, THREADS)
    return fingerprint(prepared.result(prepared.run()), n)


@pytest.mark.parametrize("workload,simulator,dtype,n", _cases())
def test_workload(benchmark, workload, simulator, dtype, n):
    adapter = get_adapter(simulator, workload)
    why = adapter.unavailable_reason()
    if why:
        pytest.skip(why)
    problem = build_problem(workload, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = adapter.prepare(problem, dtype, THREADS)
        out = fingerprint(prepared.result(prepared.run()), n)       # warm-up + agreement
    ref = prepared.reference() if prepared.reference is not None else _reference(workload, n)
    err = compare(out, ref)
    tol = HEAD_LOSS_TOL if workload == "HEAD" else tolerance(dtype)
    assert err <= tol, f"{simulator} disagrees with the reference: {err:.3g}"
    benchmark.group = f"{workload} n={n} B={problem.batch}"
    benchmark.extra_info.update(simulator=simulator, dtype=dtype, n_qubits=n, batch=problem.batch,
                                threads=THREADS, n_passes=prepared.n_passes, max_abs_error=err)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        benchmark.pedantic(prepared.run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
