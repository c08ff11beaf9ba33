"""Whole circuits against the reference; expectations, probabilities, the real fast path, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import (Circuit, CircuitError, Input, Weight, counts, expval, final_state, op, pauli, probabilities,
                  sample, sample_expval, z_each)
from qsim.ansatz import angle_encoding, long_range_pqc
import qsim
from qsim import gates as G
from qsim.gates import CZ, RY, SWAP, H, X, Z
from qsim.observables import Observable

from qsim_testutils import ATOL, dense_operator, gpu_available, haar_states, random_circuit


def dense_reference(circuit, w, x, psi):
    """Product of dense operators built by ``dense_operator`` (independent of every backend)."""
    from qsim.backends.reference import op_thetas

    out = []
    for b in range(psi.shape[0]):
        v = psi[b]
        for o in circuit.ops:
            th = op_thetas(o, w, x[b:b + 1] if x is not None else None, 1)[0]
            v = dense_operator(o.gate.matrix(*th), o.wires, circuit.n_qubits) @ v
        out.append(v)
    return np.array(out)


@pytest.mark.parametrize("seed", range(3))
def test_random_circuits(seed, engine):
    backend, precision = engine
    rng = np.random.default_rng(seed)
    n, B = 5, 3
    c = random_circuit(rng, n, 40)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, n)
    ref = dense_reference(c, w, x, psi)
    np.testing.assert_allclose(final_state(c, w, x, psi, backend=backend, precision=precision), ref,
                               atol=ATOL[precision] * 20)
    obs = list(z_each(n)) + [pauli("XY", (0, 3)), pauli("ZZ", (1, 2), 0.5) + pauli("Y", 4, -2.0)]
    exp_ref = np.stack([np.einsum("bi,ij,bj->b", ref.conj(), o.matrix(n), ref).real for o in obs], axis=1)
    np.testing.assert_allclose(expval(c, obs, w, x, psi, backend=backend, precision=precision), exp_ref,
                               atol=ATOL[precision] * 50)
    np.testing.assert_allclose(probabilities(c, w, x, psi, backend=backend, precision=precision),
                               np.abs(ref) ** 2, atol=ATOL[precision] * 20)


def test_large_register_pass_major():
    """n above the sample-major limit runs the pass-major driver; compare with the reference."""
    rng = np.random.default_rng(7)
    c = random_circuit(rng, 15, 30, inputs=False)
    w = rng.normal(size=c.n_weights)
    np.testing.assert_allclose(final_state(c, w), final_state(c, w, backend="numpy"), atol=1e-10)


@pytest.mark.parametrize("precision", ["double", "single"])
def test_real_fast_path(precision):
    rng = np.random.default_rng(2)
    n, B = 6, 4
    ops = angle_encoding(n, scale=np.pi) + long_range_pqc(n, 2, 2) + [op(CZ, (0, 3)), op(SWAP, (1, 4)),
                                                                       op(H, 2), op(X, 5), op(Z, 1)]
    c = Circuit(n, tuple(ops))
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(B, n))
    psi = haar_states(rng, B, n, real=True)
    obs = list(z_each(n)) + [pauli("XX", (0, 1)), pauli("YY", (2, 3))]
    real = final_state(c, w, x, psi, precision=precision, real=True)
    assert real.dtype == (np.float64 if precision == "double" else np.float32)
    cplx = final_state(c, w, x, psi, precision=precision, real=False)
    np.testing.assert_allclose(real, cplx.real, atol=ATOL[precision] * 10)
    np.testing.assert_allclose(expval(c, obs, w, x, psi, precision=precision),
                               expval(c, obs, w, x, psi, backend="numpy"), atol=ATOL[precision] * 50)


def test_default_initial_state_and_no_ops():
    c = Circuit(3)
    np.testing.assert_allclose(final_state(c), [[1, 0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(expval(c, z_each(3)), [[1, 1, 1]])
    # qubit 0 is the most significant bit
    np.testing.assert_allclose(probabilities(Circuit(3, (op(X, 0),)))[0], np.eye(8)[4])


def _five_sigma(est, exact, shots):
    sigma = np.sqrt(np.maximum(1 - exact**2, 1e-12) / shots)
    return np.all(np.abs(est - exact) <= 5 * sigma + 1e-12)


def test_sampling_statistics():
    rng = np.random.default_rng(11)
    n, B, shots = 4, 3, 20000
    c = Circuit(n, tuple(angle_encoding(n) + long_range_pqc(n, 1, 2)))
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(B, n))
    p = probabilities(c, w, x)
    idx = sample(c, shots, w, x, seed=3)
    assert idx.shape == (B, shots)
    freq = np.stack([np.bincount(r, minlength=2**n) / shots for r in idx])
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-12)
    np.testing.assert_array_equal(idx, sample(c, shots, w, x, seed=3))          # seeded
    cnt = counts(c, 100, w, x, seed=1)
    assert len(cnt) == B and all(sum(d.values()) == 100 for d in cnt)
    assert all(len(k) == n for d in cnt for k in d)
    obs = [pauli("Z", 0), pauli("XZ", (1, 2)), pauli("Y", 3) + pauli("ZZ", (0, 1), 0.5)]
    est = sample_expval(c, obs, shots, w, x, seed=5)
    exact = expval(c, obs, w, x)
    for j in range(2):
        assert _five_sigma(est[:, j], exact[:, j], shots)
    assert np.all(np.abs(est[:, 2] - exact[:, 2]) <= 5 * np.sqrt(1.25 / shots))


def test_sampling_errors():
    from qsim import CircuitError

    c = Circuit(1, (op(RY, 0, Weight(0)),))
    with pytest.raises(CircuitError, match="shots = 0"):
        sample(c, 0, [0.1])
    with pytest.raises(CircuitError, match="shots = 1.5"):
        sample_expval(c, z_each(1), 1.5, [0.1])


def test_observable_algebra():
    o = pauli("Z", 0) + 2 * pauli("X", 1)
    assert isinstance(o, Observable) and len(o.terms) == 2
    np.testing.assert_allclose(o.matrix(2),
                               np.kron(np.diag([1, -1]), np.eye(2)) + 2 * np.kron(np.eye(2), [[0, 1], [1, 0]]))
    assert not (pauli("Y", 0)).is_real and (pauli("YY", (0, 1))).is_real


def test_per_sample_inputs_differ():
    c = Circuit(1, (op(RY, 0, Input(0)), op(RY, 0, Weight(0))))
    x = np.array([[0.0], [np.pi]])
    e = expval(c, z_each(1), [0.0], x)
    np.testing.assert_allclose(e[:, 0], [1.0, -1.0], atol=1e-12)


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("fusion", [None, 0, 1, 2])
def test_batch_major_driver(precision, fusion):
    """B >= BATCH_MAJOR_MIN_BATCH on a small register runs batch-major (batch innermost)."""
    from qsim.backends.numba_backend import BATCH_MAJOR_MIN_BATCH
    from qsim.gates import GATES

    rng = np.random.default_rng(21)
    B = BATCH_MAJOR_MIN_BATCH + 4
    c = random_circuit(rng, 6, 60, [g for g in GATES.values() if g.num_wires <= 2])
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, 6)
    for state in (None, psi):
        ref = final_state(c, w, x, state, backend="numpy")
        got = final_state(c, w, x, state, precision=precision, fusion=fusion)
        np.testing.assert_allclose(got, ref, atol=ATOL[precision] * 20)
    real_c = Circuit(6, tuple(angle_encoding(6) + long_range_pqc(6, 2, 3)))
    wr, sr = rng.normal(size=real_c.n_weights), haar_states(rng, B, 6, real=True)
    np.testing.assert_allclose(expval(real_c, z_each(6), wr, x[:, :6], sr, precision=precision, fusion=fusion),
                               expval(real_c, z_each(6), wr, x[:, :6], sr, backend="numpy"),
                               atol=ATOL[precision] * 50)


# ---------------------------------------------------------------------- memory guard (issue 10, finding 8)
@pytest.fixture
def memory_cap():
    """``qsim.validate.set_max_bytes``, reset after the test."""
    from qsim import validate

    yield validate.set_max_bytes
    validate.set_max_bytes(None)


def _guarded_calls():
    """One call per allocation path: ``(label, call(n, B), bytes per entry, density)`` params."""
    import qsim.noise as qn
    from qsim.grad import vjp

    def circ(n):
        ops = [op(RY, q, Input(q)) for q in range(n)] + [op(CZ, (q, q + 1)) for q in range(n - 1)]
        return Circuit(n, tuple(ops))

    def x(n, B):
        return np.full((B, n), 0.3)

    def noisy(n):
        return qn.NoiseModel.depolarizing(0.01).apply(circ(n))

    cases = [
        ("numba sample-major", lambda n, B: final_state(circ(n), None, x(n, B)), 16, False),
        ("numba batch-major", lambda n, B: expval(circ(n), z_each(n), None, x(n, 16 * B)), 8, False),
        ("numba adjoint", lambda n, B: vjp(circ(n), z_each(n), np.ones((B, n)), None, x(n, B)), 8, False),
        ("numpy reference", lambda n, B: expval(circ(n), z_each(n), None, x(n, B), backend="numpy"), 16, False),
        ("density numba", lambda n, B: qn.evolve(noisy(n), None, x(n, B)), 8, True),
        ("density numpy", lambda n, B: qn.evolve(noisy(n), None, x(n, B), backend="numpy"), 16, True),
    ]
    gpu = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA GPU")]
    return [pytest.param(*case, id=case[0]) for case in cases] + [
        pytest.param("cupy", lambda n, B: final_state(circ(n), None, x(n, B), backend="cupy"), 16, False,
                     id="cupy", marks=gpu)]


@pytest.mark.parametrize("label,call,entry,density", _guarded_calls())
def test_memory_guard_on_every_allocation_path(memory_cap, label, call, entry, density):
    """Issue 10 finding 8: no memory check before allocating; 29-31 qubits tried 8-32 GiB on a 24 GiB
    machine.  Every path that allocates states now compares the bytes with the cap first."""
    n, B = 3, 2
    rows = 16 * B if label == "numba batch-major" else B
    need = rows * (4 if density else 2) ** n * entry
    memory_cap(need)
    call(n, B)                                                       # exactly at the cap: runs
    memory_cap(need - 1)
    kind = "density matrices" if density else "state vectors"
    dtype = {8: "float64", 16: "complex128"}[entry]
    with pytest.raises(CircuitError, match=rf"^{n} qubits x batch {rows} as {dtype} {kind} need {need} bytes "
                                           rf".*more than the cap qsim.set_max_bytes \({need - 1} bytes"):
        call(n, B)


def test_memory_guard_env_variable_and_available_memory(monkeypatch, memory_cap):
    """Issue 10 finding 8: the cap comes from $QSIM_MAX_BYTES too, and the host's available memory
    (MemAvailable) is always a limit; errors name n, batch, dtype and bytes."""
    from qsim import validate

    c = Circuit(2, (op(H, 0),))
    monkeypatch.setenv(validate.MAX_BYTES_ENV, "1e2")                 # 4 states x 4 amplitudes x 16 B = 256 B
    with pytest.raises(CircuitError, match=r"2 qubits x batch 4 as complex128 state vectors need 256 bytes "
                                           r"\(256 B\), more than the cap \$QSIM_MAX_BYTES \(100 bytes"):
        final_state(c, state=np.tile([1.0, 0, 0, 0], (4, 1)))
    memory_cap(10**6)                                                 # set_max_bytes wins over the variable
    assert final_state(c, state=np.tile([1.0, 0, 0, 0], (4, 1))).shape == (4, 4)
    memory_cap(None)
    monkeypatch.setenv(validate.MAX_BYTES_ENV, "lots")
    with pytest.raises(CircuitError, match=r"\$QSIM_MAX_BYTES = 'lots' must be a positive number of bytes"):
        final_state(c)
    monkeypatch.delenv(validate.MAX_BYTES_ENV)
    monkeypatch.setattr(validate, "available_memory", lambda: 1000)
    final_state(c, state=np.tile([1.0, 0, 0, 0], (100, 1)))         # small batches skip reading /proc/meminfo
    monkeypatch.setattr(validate, "MEMORY_CHECK_MIN_BYTES", 0)
    with pytest.raises(CircuitError, match=r"more than the available memory \(1000 bytes"):
        final_state(c, state=np.tile([1.0, 0, 0, 0], (100, 1)))
    with pytest.raises(CircuitError, match="memory cap 0 must be a positive number"):
        memory_cap(0)


def test_available_memory_reads_the_host():
    """Issue 10 finding 8: the guard's notion of free memory is a positive byte count on this host."""
    from qsim.validate import available_memory, check_memory

    free = available_memory()
    assert free is None or free > 0
    assert check_memory(10, 4, np.complex64) == 4 * 1024 * 8
    with pytest.raises(CircuitError, match=r"30 qubits x batch 10000 as complex128 state vectors need"):
        check_memory(30, 10_000, np.complex128)                       # 160 TiB: more than any host has


# --------------------------------------------------------------------------------------------
# The front door: noise and shots as parameters, options an engine cannot honour refused


def _front_door_case():
    import qsim.noise as qn

    c = Circuit(2, (op(G.RY, 0, Input(0)), op(G.CNOT, (0, 1)), op(G.RX, 1, Weight(0))))
    return c, qn.NoiseModel.depolarizing(0.05, 0.1), np.array([0.4]), np.array([[0.3], [-1.2]])


@pytest.mark.parametrize("bad, match", [
    (dict(backend="cupy"), "backend 'cupy' with noise"),
    (dict(precision="single"), "precision 'single' with noise"),
    (dict(method="wavefunction"), "method 'wavefunction'"),
    (dict(method="trajectories", backend="numpy"), "trajectories run on the numba backend"),
    (dict(trajectories=10), "apply to method='trajectories'"),
])
def test_noisy_options_refused(bad, match):
    c, m, w, x = _front_door_case()
    with pytest.raises(qsim.InputError, match=match):
        expval(c, z_each(2), w, x, noise=m, **bad)


@pytest.mark.parametrize("opt", [dict(method="density"), dict(trajectories=5), dict(target_stderr=0.1)])
def test_noisy_options_need_noise(opt):
    c, _, w, x = _front_door_case()
    with pytest.raises(qsim.InputError, match="pass noise="):
        expval(c, z_each(2), w, x, **opt)


def test_noise_must_be_a_model():
    c, _, w, x = _front_door_case()
    with pytest.raises(qsim.InputError, match="noise must be a qsim.noise.NoiseModel"):
        expval(c, z_each(2), w, x, noise={"p1": 0.1})


def test_noisy_backends_and_fusion_agree():
    """The density engine on numba (fused, unfused) and its NumPy oracle give the same values."""
    c, m, w, x = _front_door_case()
    ref = expval(c, z_each(2), w, x, noise=m)
    for kw in (dict(backend="numpy"), dict(fusion=0), dict(fusion=2), dict(real=False)):
        np.testing.assert_allclose(expval(c, z_each(2), w, x, noise=m, **kw), ref, atol=1e-12)
    exact = expval(c, z_each(2), w, x)
    assert np.abs(ref - exact).max() > 1e-3                      # the noise does something


def test_shots_group_commuting_terms():
    """``shots`` is per measurement setting: Z0 and Z0Z1 share one setting (both estimates come from
    the same S samples) and X0 needs its own."""
    from qsim.measure import measurement_groups

    c, _, w, x = _front_door_case()
    obs = [pauli("Z", 0), pauli("ZZ", (0, 1)), pauli("X", 0)]
    assert [sorted(j for j, _ in members) for _, members in measurement_groups(obs, 2)] == [[0, 1], [2]]
    est = expval(c, obs, w, x, shots=20_000, seed=3)
    np.testing.assert_allclose(est, expval(c, obs, w, x), atol=0.03)
    np.testing.assert_array_equal(est, expval(c, obs, w, x, shots=20_000, seed=3))      # seeded
    np.testing.assert_array_equal(sample_expval(c, obs, 20_000, w, x, seed=3), est)      # the same estimator
    with pytest.raises(qsim.InputError, match="readout"):
        sample_expval(c, obs, 10, w, x, readout=lambda idx, rng: idx)
