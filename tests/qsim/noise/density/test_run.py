"""Run scheduling: serial, sample-major and sliced / pass-parallel drivers agree."""

from __future__ import annotations

import numpy as np
import pytest

import qsim.noise as qn
from qsim import Input, op
from qsim import gates as G
from qsim.noise import density

from .references import ATOL, w1_circuit

@pytest.mark.parametrize("B", [1, 3])
def test_parallel_drivers_match_serial(monkeypatch, B):
    """Force the sample-major (batch) and sliced / pass-parallel (single matrix) drivers."""
    n = 5
    c = w1_circuit(n, layers=2).extend([op(G.RX, 4, Input(0))])
    m = qn.NoiseModel.depolarizing(0.01, 0.02).add(qn.amplitude_damping(0.05), gates="RZ")
    noisy = m.apply(c)
    rng = np.random.default_rng(3)
    w, x = rng.uniform(0, 6, c.n_weights), rng.uniform(0, 1, (B, 1))
    serial = qn.evolve(noisy, w, x)
    monkeypatch.setattr(density.run, "SERIAL_MAX_WORK", 0)
    parallel = qn.evolve(noisy, w, x)
    assert np.allclose(parallel, serial, atol=ATOL)
    assert np.allclose(serial, qn.evolve(noisy, w, x, backend="numpy"), atol=ATOL)
