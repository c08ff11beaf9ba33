"""The noisy benchmark (``python -m bench.noise``, formerly ``qsim.noise.bench_noise``) runs end to
end on tiny sizes and checks peers agree before timing them."""

from __future__ import annotations

import numpy as np

import qsim
import qsim.grad
import pytest

from bench import noise as bn
from bench.adapters import Prepared
from bench.workloads import W4_P1, W4_P2, w1_circuit, w4_noise_model
from qsim import z_each


def test_w4_noise_model_places_the_benchmark_channels():
    noisy = w4_noise_model().apply(w1_circuit(3, layers=1))
    names = [(c.channel.name, c.channel.params[0][1], c.wires) for c in noisy.channels]
    assert names[:2] == [("depolarizing", W4_P1, (0,)), ("depolarizing", W4_P1, (0,))]
    assert ("depolarizing", W4_P2, (0,)) in names and ("depolarizing", W4_P2, (1,)) in names
    assert len(names) == 3 * 2 + 3 * 2


def test_benchmark_smoke_and_table():
    peers = tuple(p for p in ("qiskit-aer",) if p in bn._available(bn.PEERS))
    res = bn.run_noise_benchmark(3, 4, peers=peers, trajectory_qubits=(4,), target_stderr=0.05)
    assert [r["n"] for r in res["exact"]] == [3, 4]
    assert all(r["qsim_s"] > 0 for r in res["exact"])
    t = res["trajectories"][0]
    assert t["stderr"] <= 0.05
    prob = bn.problem(4)
    exact = qsim.expval(prob.circuit, z_each(4)[0], prob.weights, noise=w4_noise_model())
    assert abs(t["estimate"] - exact[0, 0]) < 5 * t["stderr"] + 1e-9
    table = bn.format_table(res)
    assert table.count("\n|") >= 5 and "| 4 |" in table


def test_peer_disagreement_is_an_error(monkeypatch):
    pytest.importorskip("qiskit_aer")
    real = bn.get_adapter

    class Wrong:
        def __init__(self, name):
            self.inner = real(name)
            self.workloads = self.inner.workloads

        def unavailable_reason(self):
            return self.inner.unavailable_reason()

        def prepare(self, problem, dtype, threads):
            return Prepared(lambda: None, lambda raw: {"expval": np.full((1, problem.n_qubits), 2.0)}, "wrong")

    monkeypatch.setattr(bn, "get_adapter", Wrong)
    with pytest.raises(RuntimeError, match="disagrees"):
        bn.run_noise_benchmark(3, 3, peers=("qiskit-aer",), trajectory_qubits=())


def test_old_peer_names_are_accepted():
    assert bn.PEER_ALIASES["pennylane"] == "pennylane-mixed"
    assert set(bn._available(("pennylane", "qiskit"))) <= set(bn.PEERS)
