"""The agreement check: fingerprints, comparison, and deliberately wrong adapters caught."""

from __future__ import annotations

import types

import numpy as np
import pytest

import bench.adapters.head
from bench.adapters.base import Adapter, Prepared
from bench.adapters.head import Head
from bench.adapters.qhybrid import QHybrid
from bench.agreement import (
    FINGERPRINT_FULL_MAX_QUBITS, FINGERPRINT_SAMPLES, AgreementError, ReferenceStore, compare, fingerprint,
    fingerprint_indices, tolerance,
)
from bench.worker import Job, run_config


def test_fingerprint_indices_are_fixed_and_sampled():
    assert fingerprint_indices(FINGERPRINT_FULL_MAX_QUBITS) is None
    a, b = fingerprint_indices(20), fingerprint_indices(20)
    assert np.array_equal(a, b) and a[0] == 0 and a[-1] == 2**20 - 1
    assert len(a) <= FINGERPRINT_SAMPLES + 2 and np.all(np.diff(a) > 0)


def test_compare_errors_and_tolerances():
    ref = {"state": np.ones(4, complex), "grad": np.zeros(3)}
    assert compare({"grad": np.full(3, 1e-9)}, ref) == pytest.approx(1e-9)
    assert compare({"grad": np.array([0, np.nan, 0])}, ref) == float("inf")
    with pytest.raises(AgreementError, match="shape"):
        compare({"grad": np.zeros(4)}, ref)
    with pytest.raises(AgreementError, match="no reference"):
        compare({"expval": np.zeros(4)}, ref)
    with pytest.raises(AgreementError, match="empty"):
        compare({}, ref)
    with pytest.raises(AgreementError, match="amplitudes"):
        fingerprint({"state": np.zeros(8)}, 4)
    assert tolerance("complex128") == tolerance("float64") == 1e-8
    assert tolerance("complex64") == tolerance("float32") == 1e-4


def test_reference_store_round_trip(tmp_path):
    store = ReferenceStore(tmp_path / "refs")
    assert store.load("W1-n3") is None
    fp = {"state": np.arange(4) * (1 + 1j), "grad": np.arange(3.0)}
    store.save("W1-n3", fp)
    back = store.load("W1-n3")
    assert set(back) == set(fp) and all(np.array_equal(back[k], fp[k]) for k in fp)


class _Reversed(QHybrid):
    """Wrong on purpose: reads the state little-endian (a classic adapter bug)."""

    def __init__(self):
        super().__init__("numba")
        self.name = "wrong-endian"
        self.kind = "peer"

    def prepare(self, problem, dtype, threads):
        p = super().prepare(problem, dtype, threads)
        n = problem.n_qubits

        def result(st):
            return {"state": st[0].reshape((2,) * n).transpose(range(n - 1, -1, -1)).reshape(-1)}

        return Prepared(p.run, result, "wrong")


class _SignFlip(QHybrid):
    """Wrong on purpose: negates every angle (R(θ) = exp(+iθP/2))."""

    def __init__(self):
        super().__init__("numba")
        self.name = "wrong-sign"
        self.kind = "peer"

    def prepare(self, problem, dtype, threads):
        flipped = type(problem)(problem.workload, problem.n_qubits, problem.batch, problem.layers, problem.seed,
                                problem.circuit, -problem.weights, problem.inputs)
        return super().prepare(flipped, dtype, threads)


def _run(adapter, workload, sizes, tmp_path, reference=False, dtype="complex128"):
    events = []
    # a large budget with one repeat: no size is skipped for time, however loaded the machine
    job = Job(workload=workload, simulator=adapter.name, dtype=dtype, threads=1, sizes=sizes, budget=60.0,
              reference=reference, ref_dir=str(tmp_path), max_repeats=1)
    run_config(job, adapter, events.append)
    return [e["record"] for e in events if e["event"] == "record"]


@pytest.mark.parametrize("wrong,workload", [(_Reversed, "W1"), (_SignFlip, "W1"), (_SignFlip, "W3")])
def test_wrong_adapter_is_marked_failed(wrong, workload, tmp_path):
    sizes = [(3, 1), (4, 1)]
    ref = _run(QHybrid("numba"), workload, sizes, tmp_path, reference=True)
    assert [r["status"] for r in ref] == ["ok", "ok"]
    assert all(r["max_abs_error"] is not None and r["max_abs_error"] < 1e-12 for r in ref)   # vs the NumPy oracle
    if workload == "W1":        # state-vector forward rows of ours carry the roofline
        assert all(r["n_passes"] and r["effective_bandwidth_bytes_per_s"] > 0 and r["roofline_fraction"] > 0
                   for r in ref)
    bad = _run(wrong(), workload, sizes, tmp_path)
    assert [r["status"] for r in bad] == ["failed", "failed"]
    assert all("disagrees with the reference" in r["reason"] for r in bad)
    assert all(r["time_s"]["repeats"] == 0 and r["time_s"]["median"] is None for r in bad)   # no time shown
    good = _run(QHybrid("numba"), workload, sizes, tmp_path, dtype="complex64")
    assert [r["status"] for r in good] == ["ok", "ok"] and good[0]["time_s"]["repeats"] >= 1


def test_missing_reference_skips_and_errors_fail(tmp_path):
    recs = _run(QHybrid("numba"), "W1", [(3, 1)], tmp_path)          # no reference run happened
    assert recs[0]["status"] == "skipped" and "no reference" in recs[0]["reason"]

    class Broken(Adapter):
        name, kind, workloads = "broken", "peer", frozenset({"W1"})

        def prepare(self, problem, dtype, threads):
            raise RuntimeError("boom")

    recs = _run(Broken(), "W1", [(3, 1)], tmp_path)
    assert recs[0]["status"] == "failed" and recs[0]["reason"] == "RuntimeError: boom"


def test_budget_and_memory_skips(tmp_path, monkeypatch):
    import bench.worker as worker

    monkeypatch.setattr(worker, "available_memory", lambda: 1 << 20)      # 1 MiB: n = 20 cannot fit
    recs = _run(QHybrid("numba"), "W1", [(3, 1), (20, 1)], tmp_path, reference=True)
    assert recs[0]["status"] == "ok"
    assert recs[1]["status"] == "skipped" and recs[1]["reason"].startswith("needs about")
    monkeypatch.setattr(worker, "PREDICTION_FLOOR_S", 0.0)
    monkeypatch.setattr(worker, "available_memory", lambda: 1 << 50)
    recs = _run(QHybrid("numba"), "W1", [(3, 1), (36, 1)], tmp_path, reference=True)
    assert recs[1]["status"] == "skipped" and recs[1]["reason"].startswith("predicted")


def _fake_hybrid_step(losses):
    mod = types.ModuleType("bench.hybrid_step")
    mod.ADAPTERS = {name: (lambda n, b, s, v=v: (lambda: v)) for name, v in losses.items()}
    mod.available = lambda name: name in losses
    return mod


def test_head_rows_check_the_first_loss(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.adapters.head, "hybrid_step",
                        _fake_hybrid_step({"qhybrid": 0.693, "pennylane-lightning": 0.693 + 1e-6,
                                           "torch-statevector": 0.5}))
    size = [(4, 8)]
    ref = _run(Head("qhybrid"), "HEAD", size, tmp_path, reference=True, dtype="float64")
    assert ref[0]["status"] == "ok" and ref[0]["batch"] == 8
    assert _run(Head("pennylane-lightning"), "HEAD", size, tmp_path, dtype="float64")[0]["status"] == "ok"
    bad = _run(Head("torch-statevector"), "HEAD", size, tmp_path, dtype="float64")[0]
    assert bad["status"] == "failed" and "disagrees" in bad["reason"]


def test_head_unavailable_implementation_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.adapters.head, "hybrid_step", _fake_hybrid_step({"qhybrid": 0.7}))
    rec = _run(Head("torch-statevector"), "HEAD", [(4, 8)], tmp_path, dtype="float64")[0]
    assert rec["status"] == "skipped" and "not available" in rec["reason"]
