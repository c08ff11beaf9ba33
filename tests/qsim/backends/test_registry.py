"""The backend registry: every registered backend agrees with the reference on random circuits
(forward, expectations, probabilities, adjoint VJP), bad names and unhonourable options raise."""

from __future__ import annotations

import numpy as np
import pytest
from qsim_testutils import ATOL, gpu_available, haar_states, random_circuit

from qsim import CircuitError, InputError, expval, final_state, pauli
from qsim.backends import NAMES, Backend, get_backend, resolve_fusion, xp_engine
from qsim.backends import reference
from qsim.program import BACKWARD_FUSION, lower

OBS = (pauli("Z", 0), pauli("XY", (1, 2)), pauli("ZZ", (0, 3), 0.5) + pauli("X", 2))
_gpu = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA GPU")]


def _backends():
    """Every registered name (cupy on a GPU only), plus the CuPy engine on NumPy (runs everywhere)."""
    out = [pytest.param(name, id=name, marks=_gpu if name == "cupy" else ()) for name in NAMES]
    return out + [pytest.param("xp-numpy", id="xp-numpy")]


def _get(name: str) -> Backend:
    return xp_engine.XPBackend(np) if name == "xp-numpy" else get_backend(name)


@pytest.mark.parametrize("name", _backends())
@pytest.mark.parametrize("seed", range(3))
def test_backend_agrees_with_the_reference(name, seed):
    be = _get(name)
    assert isinstance(be, Backend)
    rng = np.random.default_rng(seed)
    n, B = 5, 3
    c = random_circuit(rng, n, 40)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, n)
    cot = rng.normal(size=(B, len(OBS)))
    want_state = reference.final_state(c, w, x, psi, B)
    want_vals = reference.expval(c, OBS, w, x, psi, B)
    want_gw, want_gx, want_gs = reference.adjoint_vjp(c, OBS, cot, w, x, psi, B)
    for precision in be.precisions:
        dtype = np.complex128 if precision == "double" else np.complex64
        tol = ATOL[precision] * 100
        level = resolve_fusion(be, None)
        prog = None if level is None else lower(c, level)
        back = None if level is None else lower(c, min(level, BACKWARD_FUSION))
        st = be.forward(c, prog, w, x, psi, B, dtype)
        np.testing.assert_allclose(be.to_numpy(st), want_state, atol=tol)
        np.testing.assert_allclose(be.expvals(st, OBS, n), want_vals, atol=tol)
        np.testing.assert_allclose(be.probabilities(st), np.abs(want_state) ** 2, atol=tol)
        values, gw, gx, gs = be.adjoint(c, prog, back, OBS, cot, w, x, psi, B, dtype)
        np.testing.assert_allclose(values, want_vals, atol=tol)
        np.testing.assert_allclose(gw, want_gw, atol=tol * 10)
        np.testing.assert_allclose(gx, want_gx, atol=tol * 10)
        np.testing.assert_allclose(be.to_numpy(gs), want_gs, atol=tol * 10)


def test_registry_lists_and_caches():
    assert NAMES[0] == "numba" and set(NAMES) == {"numba", "numpy", "cupy"}
    for name in ("numba", "numpy"):
        be = get_backend(name)
        assert be is get_backend(name) and be.name == name and be.device == "cpu"
    assert get_backend("numpy").precisions == ("double",) and get_backend("numpy").default_fusion is None


@pytest.mark.parametrize("bad", ["gpu", "", None, 3, ["numba"]])
def test_unknown_backend_names_raise(bad):
    with pytest.raises(InputError, match=r"backend .* must be one of \('numba', 'numpy', 'cupy'\)"):
        get_backend(bad)


def test_cupy_without_gpu_is_a_clear_error():
    if gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CircuitError, match="backend 'cupy' needs CuPy"):
        get_backend("cupy")


def test_options_a_backend_cannot_honour_raise():
    rng = np.random.default_rng(0)
    c = random_circuit(rng, 3, 10, inputs=False)
    w = rng.normal(size=c.n_weights)
    with pytest.raises(InputError, match="backend 'numpy' runs the circuit gate by gate and takes no fusion level"):
        final_state(c, w, backend="numpy", fusion=1)
    with pytest.raises(InputError, match="numpy reference backend runs in double precision only"):
        expval(c, pauli("Z", 0), w, backend="numpy", precision="single")
    with pytest.raises(InputError, match="fusion level 3"):
        resolve_fusion(get_backend("numba"), 3)
    assert resolve_fusion(get_backend("numba"), None) == get_backend("numba").default_fusion
