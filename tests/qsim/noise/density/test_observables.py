"""Observables on vec(ρ): expectations and probabilities against dense traces."""

from __future__ import annotations

import numpy as np

import qsim.noise as qn
from qsim import pauli

from .references import ATOL, mixed_circuit, mixed_model

def test_expectations_probabilities_and_utilities(data):
    w, x = data
    noisy = mixed_model().apply(mixed_circuit())
    rho = qn.density_matrix(noisy, w, x)
    obs = [pauli("XZ", (0, 2)), pauli("Y", 1, 0.5) + pauli("ZZ", (1, 2), -2.0), pauli("XYZ", (2, 1, 0))]
    want = np.array([[np.trace(o.matrix(3) @ r).real for o in obs] for r in rho])
    assert np.allclose(qn.expval_density(noisy, obs, w, x), want, atol=ATOL)
    assert np.allclose(qn.expval_rho(rho, obs), want, atol=ATOL)
    p = qn.probabilities_density(noisy, w, x)
    assert np.allclose(p, np.real(np.diagonal(rho, axis1=1, axis2=2)), atol=ATOL)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(np.trace(rho, axis1=1, axis2=2), 1.0)
