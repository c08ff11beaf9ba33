"""Quantum-information helpers (purity, partial trace, fidelity, trace distance)."""

from __future__ import annotations

import numpy as np
import pytest

import qsim.noise as qn
from qsim.errors import InputError
from qsim.noise import density, qinfo

from .density.references import ATOL, mixed_circuit, mixed_model


@pytest.fixture(scope="module")
def rho():
    rng = np.random.default_rng(11)
    w, x = rng.uniform(-3, 3, 5), rng.uniform(-1, 1, (2, 3))
    return qn.density_matrix(mixed_model().apply(mixed_circuit()), w, x)


def test_utilities(rho):
    assert np.all(qn.purity(rho) < 1.0)
    # partial trace against an explicit sum
    red = qn.partial_trace(rho, [2, 0])
    t = rho.reshape(2, 2, 2, 2, 2, 2, 2)
    want_red = np.einsum("bacedcf->beafd", t).reshape(2, 4, 4)          # keep (2, 0), trace wire 1
    assert np.allclose(red, want_red, atol=ATOL)
    # fidelity: symmetric, 1 on itself, equals <psi|rho|psi> for pure sigma
    assert np.allclose(qn.fidelity(rho, rho), 1.0, atol=1e-8)
    assert np.allclose(qn.fidelity(rho[0], rho[1]), qn.fidelity(rho[1], rho[0]), atol=1e-8)
    assert np.allclose(qn.trace_distance(rho, rho), 0.0, atol=1e-10)


def test_pure_states_against_closed_forms():
    """Independent references: for pure states F = |⟨ψ|φ⟩|² and T = √(1 - F)."""
    rng = np.random.default_rng(2)
    psi = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    phi = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    phi /= np.linalg.norm(phi, axis=1, keepdims=True)
    rp, rf = qn.pure_density(psi), qn.pure_density(phi)
    overlap = np.abs(np.einsum("bi,bi->b", psi.conj(), phi)) ** 2
    assert np.allclose(qinfo.fidelity(rp, rf), overlap, atol=1e-8)
    assert np.allclose(qinfo.fidelity(rp, phi), overlap, atol=1e-12)
    assert np.allclose(qinfo.trace_distance(rp, rf), np.sqrt(1 - overlap), atol=1e-8)
    assert np.allclose(qinfo.purity(rp), 1.0)
    mixed = np.eye(4)[None] / 4
    assert np.allclose(qinfo.purity(mixed), 0.25)
    a = rng.standard_normal((4, 4))
    a = a @ a.T
    assert np.allclose(qinfo.sqrtm_psd(a) @ qinfo.sqrtm_psd(a), a, atol=1e-10)


def test_partial_trace_rejects_bad_wires_and_density_reexports():
    with pytest.raises(InputError, match="bad wires"):
        qinfo.partial_trace(np.eye(4) / 4, [0, 0])
    for name in ("purity", "partial_trace", "fidelity", "trace_distance"):
        assert getattr(density, name) is getattr(qinfo, name) is getattr(qn, name)
