"""qsim.measure: sampling, readout maps, grouping, basis changes, parity signs, the shot estimator,
each against an independent reference (dense matrices, explicit loops)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import qsim.measure as M
from qsim import Circuit, CircuitError, pauli
from qsim.errors import InputError
from qsim.simulate import final_state


def test_rng_and_shot_checks():
    g = np.random.default_rng(1)
    assert M.rng_from(g) is g
    assert M.rng_from(3).random() == np.random.default_rng(3).random()
    assert M.check_shots(np.int64(5)) == 5 and type(M.check_shots(np.int64(5))) is int
    for bad in (0, -1, 1.5, True, "3", None):
        with pytest.raises(InputError, match="shots = "):
            M.check_shots(bad)
    with pytest.raises(CircuitError, match="shots = 0"):             # what qsim.simulate's callers expect
        M.check_shots(0)


def test_readout_checks():
    assert M.check_readout([(0.1, 0.2)], 1).shape == (1, 2)
    with pytest.raises(InputError, match="expected \\(2, 2\\)"):
        M.check_readout([(0.1, 0.2)], 2)
    with pytest.raises(InputError, match="\\[0, 1\\]"):
        M.check_readout([(0.1, 1.2)], 1)


def test_readout_map_equals_the_dense_kronecker_confusion():
    rng = np.random.default_rng(0)
    r = rng.uniform(0, 0.3, (3, 2))
    p = rng.dirichlet(np.ones(8), size=2)
    A = np.ones((1, 1))
    for p01, p10 in r:
        A = np.kron(A, np.array([[1 - p01, p10], [p01, 1 - p10]]))
    assert np.allclose(M.apply_readout_to_probabilities(p, r), p @ A.T)


def test_readout_observables_equal_expectations_under_the_confused_distribution():
    rng = np.random.default_rng(1)
    r = rng.uniform(0, 0.2, (3, 2))
    p = rng.dirichlet(np.ones(8), size=1)
    pm = M.apply_readout_to_probabilities(p, r)
    for t in (pauli("Z", 0), pauli("ZZ", (0, 2), 0.5), pauli("ZZZ", (2, 1, 0), -1.5)):
        signs = np.array([np.prod([(-1) ** ((i >> (2 - w)) & 1) for w in t.terms[0].wires]) for i in range(8)])
        want = t.terms[0].coeff * pm @ signs
        (obs,) = M.readout_observables(t, r)
        got = sum(term.coeff * (p @ M.parity_signs(3, M.measured_mask(term, 3))) for term in obs.terms)
        assert np.allclose(got, want)
    assert M.readout_observables(pauli("Z", 0), None)[0] == pauli("Z", 0)


def test_parity_signs_against_an_explicit_popcount():
    for n, mask in [(1, 1), (3, 0b101), (4, 0b1111), (4, 0)]:
        want = np.array([(-1) ** bin(i & mask).count("1") for i in range(2**n)], dtype=float)
        got = M.parity_signs(n, mask)
        assert np.array_equal(got, want) and not got.flags.writeable


def test_sample_indices_follow_the_distribution_and_the_seed():
    p = np.array([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.0, 2.0]])        # rows need not be normalised
    idx = M.sample_indices(p, 100_000, np.random.default_rng(0))
    assert idx.shape == (2, 100_000) and idx.dtype == np.int64
    freq = np.stack([np.bincount(row, minlength=4) for row in idx]) / 100_000
    assert np.allclose(freq[0], p[0], atol=0.005) and np.all(idx[1] == 3)
    # the inverse CDF, draw by draw (one uniform per shot, row-major)
    u = np.random.default_rng(5).random((2, 7))
    cdf = np.cumsum(p, axis=1) / p.sum(axis=1, keepdims=True)
    want = np.array([[int(np.argmax(cdf[b] > x)) for x in u[b]] for b in range(2)])
    assert np.array_equal(M.sample_indices(p, 7, np.random.default_rng(5)), want)


def test_readout_bit_flips_and_counts():
    probs = np.zeros((1, 4))
    probs[0, 0] = 1.0
    idx = M.sample_bitstrings(probs, 200_000, np.random.default_rng(0), readout=[(0.1, 0.0), (0.3, 0.0)])
    assert ((idx >> 1) & 1).mean() == pytest.approx(0.1, abs=0.005)
    assert (idx & 1).mean() == pytest.approx(0.3, abs=0.005)
    counts = M.counts_dicts(np.array([[0, 3, 3, 1]]), 2)
    assert counts == [{"00": 1, "01": 1, "11": 2}]
    c = M.sample_counts(np.array([[0.5, 0.5]]), 1000, np.random.default_rng(0))
    assert c.sum() == 1000


def test_grouping_and_basis_changes_diagonalise_the_terms():
    groups = M.measurement_groups([pauli("ZZ", (0, 1)), pauli("Z", 2), pauli("XZ", (0, 2)), pauli("X", 0)], 3)
    assert [sorted(g[0].items()) for g in groups] == [[(0, "Z"), (1, "Z"), (2, "Z")], [(0, "X"), (2, "Z")]]
    # rotating to Z: ⟨ψ|P|ψ⟩ = Σ_i |(Vψ)_i|² (-1)^{|i ∧ mask|} for every Pauli string on 2 qubits
    rng = np.random.default_rng(3)
    psi = rng.standard_normal((1, 4)) + 1j * rng.standard_normal((1, 4))
    psi /= np.linalg.norm(psi)
    for a, b in itertools.product("IXYZ", repeat=2):
        t = pauli(a + b, (0, 1)).terms[0]
        want = np.vdot(psi[0], t.matrix(2) @ psi[0]).real
        for basis in (M.term_basis(t), t):
            rot = final_state(Circuit(2, tuple(M.basis_change_ops(basis))), state=psi) if M.term_basis(t) else psi
            got = np.abs(rot[0]) ** 2 @ M.parity_signs(2, M.measured_mask(t, 2))
            assert np.isclose(got, want)


def test_shot_expvals_is_unbiased_and_counts_identity_terms_exactly():
    p = np.array([[0.7, 0.1, 0.1, 0.1]])
    obs = [pauli("Z", 0) + pauli("", (), 0.25), pauli("ZZ", (0, 1))]
    exact = np.array([[0.6 + 0.25, 0.6]])
    est = M.shot_expvals(lambda basis: p, obs, 2, 200_000, np.random.default_rng(0))
    assert np.allclose(est, exact, atol=5 / np.sqrt(200_000))
    again = M.shot_expvals(lambda basis: p, obs, 2, 200_000, np.random.default_rng(0))
    assert np.array_equal(est, again)
    only_id = M.shot_expvals(lambda basis: p, [pauli("", (), 2.0)], 2, 10, np.random.default_rng(0), batch_size=3)
    assert np.array_equal(only_id, np.full((3, 1), 2.0))
    with pytest.raises(InputError, match="probability rows"):
        M.shot_expvals(lambda basis: np.vstack([p, p]), obs, 2, 10, np.random.default_rng(0))


def test_measure_does_not_import_noise():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(M))
    names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any("noise" in m for m in names)
