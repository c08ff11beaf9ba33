"""Channels: textbook matrix forms, complete positivity and trace preservation, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qsim.noise as qn
from qsim.gates import PAULI
from qsim.noise.channels import KRAUS_ATOL

I2, X, Y, Z = (PAULI[k] for k in "IXYZ")
ATOL = 1e-12
probs = st.floats(0.0, 1.0, allow_nan=False)


def random_rho(d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) + 1j * rng.standard_normal((d, d))
    r = a @ a.conj().T
    return r / np.trace(r)


def check_cptp(ch: qn.Channel) -> None:
    d = ch.dim
    tp = np.einsum("aji,ajk->ik", ch.kraus.conj(), ch.kraus)
    assert np.allclose(tp, np.eye(d), atol=1e-10)
    j = ch.choi()
    assert np.allclose(j, j.conj().T, atol=1e-12)
    assert np.linalg.eigvalsh(j).min() > -1e-10                       # CP  <=>  Choi PSD
    assert np.allclose(np.einsum("ikjk->ij", j.reshape(d, d, d, d)), np.eye(d), atol=1e-10)   # Tr_out J = 1
    rho = random_rho(d, 3)
    vec = ch.superoperator @ rho.reshape(-1)                           # row-major vec
    assert np.allclose(vec.reshape(d, d), ch.apply(rho), atol=1e-12)


# ---------------------------------------------------------------------- textbook forms
@pytest.mark.parametrize("p", [0.0, 0.1, 0.75, 1.0])
def test_depolarizing_matches_pauli_form(p):
    rho = random_rho(2)
    want = (1 - p) * rho + p / 3 * (X @ rho @ X + Y @ rho @ Y + Z @ rho @ Z)
    assert np.allclose(qn.depolarizing(p).apply(rho), want, atol=ATOL)
    if p <= 0.75:      # equals Qiskit's (1-λ)ρ + λ I/2 with λ = 4p/3
        lam = 4 * p / 3
        assert np.allclose(qn.depolarizing(p).apply(rho), (1 - lam) * rho + lam * np.eye(2) / 2, atol=ATOL)


def test_two_qubit_depolarizing():
    p = 0.2
    rho = random_rho(4, 1)
    paulis = [np.kron(a, b) for a in (I2, X, Y, Z) for b in (I2, X, Y, Z)]
    want = (1 - p) * rho + p / 15 * sum(P @ rho @ P for P in paulis[1:])
    ch = qn.depolarizing(p, 2)
    assert ch.num_wires == 2
    assert np.allclose(ch.apply(rho), want, atol=ATOL)
    check_cptp(ch)


@pytest.mark.parametrize("fn,P", [(qn.bit_flip, X), (qn.phase_flip, Z), (qn.bit_phase_flip, Y)])
def test_flips(fn, P):
    rho = random_rho(2, 2)
    assert np.allclose(fn(0.3).apply(rho), 0.7 * rho + 0.3 * P @ rho @ P, atol=ATOL)


def test_pauli_channel():
    rho = random_rho(2, 4)
    want = 0.4 * rho + 0.1 * X @ rho @ X + 0.2 * Y @ rho @ Y + 0.3 * Z @ rho @ Z
    ch = qn.pauli_channel(0.1, 0.2, 0.3)
    assert np.allclose(ch.apply(rho), want, atol=ATOL)
    assert ch.pauli_probabilities == pytest.approx({"I": 0.4, "X": 0.1, "Y": 0.2, "Z": 0.3})
    two = qn.pauli_string_channel({"XZ": 0.1, "ZZ": 0.05})
    r4 = random_rho(4, 5)
    want4 = 0.85 * r4 + 0.1 * np.kron(X, Z) @ r4 @ np.kron(X, Z) + 0.05 * np.kron(Z, Z) @ r4 @ np.kron(Z, Z)
    assert np.allclose(two.apply(r4), want4, atol=ATOL)


def test_amplitude_damping_elements():
    g = 0.3
    rho = random_rho(2, 6)
    out = qn.amplitude_damping(g).apply(rho)
    assert out[0, 0] == pytest.approx(rho[0, 0] + g * rho[1, 1])
    assert out[1, 1] == pytest.approx((1 - g) * rho[1, 1])
    assert out[0, 1] == pytest.approx(math.sqrt(1 - g) * rho[0, 1])
    assert qn.amplitude_damping(g).pauli_probabilities is None


def test_phase_damping_is_a_phase_flip():
    lam = 0.36
    rho = random_rho(2, 7)
    out = qn.phase_damping(lam).apply(rho)
    assert np.allclose(np.diag(out), np.diag(rho))
    assert out[0, 1] == pytest.approx(math.sqrt(1 - lam) * rho[0, 1])
    pz = (1 - math.sqrt(1 - lam)) / 2
    assert qn.phase_damping(lam).pauli_probabilities == pytest.approx({"I": 1 - pz, "Z": pz})


def test_generalized_amplitude_damping_fixed_point():
    g, p = 0.4, 0.7
    ch = qn.generalized_amplitude_damping(g, p)
    fixed = np.diag([p, 1 - p]).astype(complex)
    assert np.allclose(ch.apply(fixed), fixed, atol=ATOL)
    rho = random_rho(2, 8)
    out = ch.apply(rho)
    assert out[0, 1] == pytest.approx(math.sqrt(1 - g) * rho[0, 1])
    assert np.allclose(qn.generalized_amplitude_damping(g, 1.0).kraus[:2], qn.amplitude_damping(g).kraus)


def test_thermal_relaxation_rates():
    t1, t2, t = 50e-6, 30e-6, 1e-6
    rho = random_rho(2, 9)
    out = qn.thermal_relaxation(t1, t2, t).apply(rho)
    assert out[1, 1] == pytest.approx(rho[1, 1] * math.exp(-t / t1))
    assert out[0, 1] == pytest.approx(rho[0, 1] * math.exp(-t / t2))
    pe = 0.2
    out = qn.thermal_relaxation(t1, t2, t, pe).apply(rho)
    e = math.exp(-t / t1)
    assert out[1, 1] == pytest.approx(rho[1, 1] * e + pe * (1 - e))
    assert np.allclose(qn.thermal_relaxation(t1, 2 * t1, t).superoperator,
                       qn.amplitude_damping(1 - math.exp(-t / t1)).superoperator, atol=ATOL)
    assert np.allclose(qn.thermal_relaxation(math.inf, math.inf, t).superoperator, np.eye(4), atol=ATOL)


def test_thermal_relaxation_matches_qiskit():
    noise = pytest.importorskip("qiskit_aer.noise")
    from qiskit.quantum_info import SuperOp

    t1, t2, t, pe = 40.0, 25.0, 3.0, 0.1
    theirs = SuperOp(noise.thermal_relaxation_error(t1, t2, t, excited_state_population=pe)).data
    # qiskit's SuperOp uses column-stacking vec: S_col = P S_row P with P the vec transpose
    perm = np.arange(4).reshape(2, 2).T.reshape(-1)
    ours = qn.thermal_relaxation(t1, t2, t, pe).superoperator
    assert np.allclose(ours, theirs[np.ix_(perm, perm)], atol=1e-10)


def test_compose_and_unitary_channel():
    a, b = qn.amplitude_damping(0.2), qn.phase_flip(0.3)
    rho = random_rho(2, 10)
    assert np.allclose(qn.compose(a, b).apply(rho), b.apply(a.apply(rho)), atol=ATOL)
    u = np.array([[0, 1], [1, 0]], dtype=complex)
    assert np.allclose(qn.unitary_channel(u).apply(rho), X @ rho @ X)


# ---------------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(p=probs, g=probs, lam=probs, q=probs)
def test_builtin_channels_are_cptp(p, g, lam, q):
    for ch in (qn.depolarizing(p), qn.depolarizing(q, 2), qn.bit_flip(p), qn.phase_flip(q),
               qn.amplitude_damping(g), qn.phase_damping(lam), qn.generalized_amplitude_damping(g, q),
               qn.pauli_channel(p / 3, q / 3, lam / 3)):
        check_cptp(ch)


@settings(max_examples=30, deadline=None)
@given(t1=st.floats(1e-3, 1e3), ratio=st.floats(0.01, 2.0), t=st.floats(0.0, 1e3), pe=probs)
def test_thermal_relaxation_is_cptp(t1, ratio, t, pe):
    check_cptp(qn.thermal_relaxation(t1, ratio * t1, t, pe))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), nk=st.integers(1, 5), nw=st.integers(1, 2))
def test_random_kraus_sets_from_isometries_are_cptp(seed, nk, nw):
    d = 2**nw
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((nk * d, d)) + 1j * rng.standard_normal((nk * d, d))
    v, _ = np.linalg.qr(a)                                          # isometry V†V = 1
    ch = qn.kraus_channel(v.reshape(nk, d, d))
    check_cptp(ch)


@settings(max_examples=30, deadline=None)
@given(f=st.floats(0.5, 1.0), nw=st.integers(1, 2))
def test_depolarizing_from_fidelity_gives_that_average_fidelity(f, nw):
    d = 2**nw
    p = qn.depolarizing_from_fidelity(f, nw)
    ch = qn.depolarizing(p, nw)
    # process fidelity with the identity = Σ_a |Tr K_a|² / d²; average = (d F_pro + 1)/(d + 1)
    f_pro = sum(abs(np.trace(k)) ** 2 for k in ch.kraus) / d**2
    assert (d * f_pro + 1) / (d + 1) == pytest.approx(f, abs=1e-12)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_probability_out_of_range_is_named(bad):
    with pytest.raises(qn.ChannelError, match=r"depolarizing: p = .* must lie in \[0, 1\]"):
        qn.depolarizing(bad)
    with pytest.raises(qn.ChannelError, match="gamma"):
        qn.amplitude_damping(bad)


def test_t2_above_twice_t1_rejected():
    with pytest.raises(qn.ChannelError, match=r"t2 = 3 exceeds 2·t1 = 2"):
        qn.thermal_relaxation(1.0, 3.0, 0.1)
    with pytest.raises(qn.ChannelError, match="t1"):
        qn.thermal_relaxation(-1.0, 1.0, 0.1)


def test_non_trace_preserving_kraus_names_the_deviation():
    with pytest.raises(qn.ChannelError, match=r"not trace preserving: max \|Σ K†K - 1\| = 0\.19"):
        qn.kraus_channel([0.9 * np.eye(2)], name="leaky")
    with pytest.raises(qn.ChannelError, match="shape"):
        qn.kraus_channel(np.zeros((2, 3)))
    assert KRAUS_ATOL < 1e-6


@pytest.mark.parametrize("ops,shapes", [
    ([np.eye(2), np.eye(4)], r"\[\(2, 2\), \(4, 4\)\]"),
    ([np.sqrt(0.5) * np.eye(2), [[1, 0]]], r"\[\(2, 2\), \(1, 2\)\]"),
    ([np.eye(2), [[1, 0], [0]]], r"\[\(2, 2\), 'ragged'\]"),
    ([[["a", "b"], ["c", "d"]]], r"\[\(2, 2\)\]"),
])
def test_ragged_or_non_numeric_kraus_sets_name_their_shapes(ops, shapes):
    """Issue 10 finding 10: a ragged Kraus set raised numpy's "inhomogeneous shape" ValueError from
    deep inside; now one ChannelError naming the channel and every operator's shape."""
    with pytest.raises(qn.ChannelError, match=rf"channel 'mine': Kraus operators must be equal-sized square "
                                              rf"matrices of numbers, got {len(ops)} with shapes {shapes}"):
        qn.kraus_channel(ops, name="mine")


def test_readout_error_validation_and_matrix():
    e = qn.readout_error(0.1, 0.2)
    assert np.allclose(e.matrix, [[0.9, 0.2], [0.1, 0.8]])
    assert qn.readout_error(0.05).p10 == 0.05
    with pytest.raises(qn.ChannelError, match="p01"):
        qn.readout_error(1.2)
    with pytest.raises(qn.ChannelError, match="exceeds 1"):
        qn.pauli_channel(0.5, 0.5, 0.5)


def test_readout_confusion_and_its_deprecated_name():
    e = qn.readout_error(0.01, 0.02)
    assert type(e) is qn.ReadoutConfusion and not isinstance(e, Exception)
    with pytest.warns(DeprecationWarning, match="ReadoutConfusion"):
        assert qn.ReadoutError is qn.ReadoutConfusion
    from qsim.noise import channels

    with pytest.warns(DeprecationWarning, match="ReadoutConfusion"):
        assert channels.ReadoutError is qn.ReadoutConfusion
    assert "ReadoutError" not in qn.__all__
