"""Every installed peer builds the same circuits as ours: outputs agree on small registers.

Each peer is skipped cleanly when it is not installed.
"""

from __future__ import annotations

import warnings

import pytest

from bench.adapters import DOUBLE, SINGLE, get_adapter
from bench.adapters.qhybrid import oracle_output
from bench.agreement import compare, fingerprint, tolerance
from bench.workloads import WORKLOADS as REGISTRY, build_problem


def WORKLOADS_UNAVAILABLE(workload):  # noqa: N802 - reads like the constant it wraps
    return REGISTRY[workload].unavailable_reason()


PEERS = ["qulacs", "pennylane-lightning", "pennylane-default", "pennylane-mixed", "qiskit-aer", "qsimcirq", "cirq"]
WORKLOADS = ("W1", "W2", "W3", "W4")
CASES = [(p, w) for p in PEERS for w in WORKLOADS if w in get_adapter(p).workloads]


@pytest.fixture(scope="module")
def problems():
    return {w: build_problem(w, 3, batch=4 if w == "W2" else None, seed=7) for w in WORKLOADS}


@pytest.mark.parametrize("peer,workload", CASES, ids=[f"{p}-{w}" for p, w in CASES])
def test_peer_agrees_with_ours(peer, workload, problems):
    adapter = get_adapter(peer)
    why = adapter.unavailable_reason() or WORKLOADS_UNAVAILABLE(workload)
    if why:
        pytest.skip(why)
    problem = problems[workload]
    ref = fingerprint(oracle_output(problem), problem.n_qubits)
    ran = 0
    for precision in (DOUBLE, SINGLE):
        for dtype in adapter.dtypes(workload, precision, problem):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prepared = adapter.prepare(problem, dtype, threads=1)
                out = fingerprint(prepared.result(prepared.run()), problem.n_qubits)
            assert compare(out, ref) <= tolerance(dtype), (peer, workload, dtype)
            ran += 1
    assert ran


def test_ours_agree_with_the_oracle(problems):
    for workload, problem in problems.items():
        if WORKLOADS_UNAVAILABLE(workload):
            continue
        ref = fingerprint(oracle_output(problem), problem.n_qubits)
        for sim in ("qhybrid-numba", "qhybrid-numpy") + (("qhybrid-numba-forward",) if workload == "W3" else ()):
            prepared = get_adapter(sim).prepare(problem, "complex128", threads=1)
            out = fingerprint(prepared.result(prepared.run()), problem.n_qubits)
            assert compare(out, ref) <= 1e-10, (sim, workload)


@pytest.mark.parametrize("dtype", ["complex128", "float64"])
def test_g1_matches_its_closed_form(dtype):
    problem = build_problem("G1", 9)
    prepared = get_adapter("qhybrid-numba").prepare(problem, dtype, threads=1)
    out = fingerprint(prepared.result(prepared.run()), problem.n_qubits)
    assert compare(out, prepared.reference()) <= 1e-12
    # a second application is not what the reference describes
    out2 = fingerprint(prepared.result(prepared.run()), problem.n_qubits)
    assert compare(out2, prepared.reference()) > 1e-3
