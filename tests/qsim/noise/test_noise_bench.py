"""The noisy benchmark runs end to end on tiny sizes and checks peers agree before timing them."""

from __future__ import annotations

import numpy as np
import pytest

import qsim.noise as qn
from qsim import z_each
from qsim.noise import bench_noise as bn


def test_w1_noise_model_places_the_benchmark_channels():
    noisy = bn.w1_noise_model().apply(bn.w1_circuit(3, layers=1))
    names = [(c.channel.name, c.channel.params[0][1], c.wires) for c in noisy.channels]
    assert names[:2] == [("depolarizing", bn.P1, (0,)), ("depolarizing", bn.P1, (0,))]
    assert ("depolarizing", bn.P2, (0,)) in names and ("depolarizing", bn.P2, (1,)) in names
    assert len(names) == 3 * 2 + 3 * 2


def test_benchmark_smoke_and_table():
    peers = ("qiskit-aer",) if bn._installed("qiskit-aer") else ()
    res = bn.run_noise_benchmark(3, 4, peers=peers, trajectory_qubits=(4,), target_stderr=0.05)
    assert [r["n"] for r in res["exact"]] == [3, 4]
    assert all(r["qsim_s"] > 0 for r in res["exact"])
    t = res["trajectories"][0]
    assert t["stderr"] <= 0.05
    exact = qn.expval_noisy(bn.w1_circuit(4), z_each(4)[0], bn._angles(bn.w1_circuit(4)), model=bn.w1_noise_model())
    assert abs(t["estimate"] - exact[0, 0]) < 5 * t["stderr"] + 1e-9
    table = bn.format_table(res)
    assert table.count("\n|") >= 5 and "| 4 |" in table


def test_peer_disagreement_is_an_error(monkeypatch):
    pytest.importorskip("qiskit_aer")
    orig = bn._PEER_BUILDERS["qiskit-aer"]
    monkeypatch.setitem(bn._PEER_BUILDERS, "qiskit-aer",
                        (orig[0], lambda n, gl, p1, p2: (lambda: np.full(n, 2.0))))
    with pytest.raises(RuntimeError, match="disagrees"):
        bn.run_noise_benchmark(3, 3, peers=("qiskit-aer",), trajectory_qubits=())
