"""The array-module pass executor behind the CuPy backend, run here with NumPy as ``xp``.

The same code runs on a GPU with ``xp = cupy`` (tests parametrised with ``cupy`` and marked
``gpu`` in the other files); this file checks its logic on every CI run.
"""

from __future__ import annotations

import numpy as np
import pytest
from qsim_testutils import haar_states, random_circuit

from qsim import expval, final_state, pauli, z_each
from qsim.backends import reference, xp_engine
from qsim.program import lower

OBS = (pauli("Z", 0), pauli("XY", (1, 2)), pauli("ZZ", (0, 3), 0.5) + pauli("X", 2))


@pytest.mark.parametrize("fusion", [0, 1, 2])
@pytest.mark.parametrize("seed", range(2))
def test_xp_forward_and_adjoint(fusion, seed):
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 5, 40)
    B = 3
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, 5)
    prog = lower(c, fusion)
    st = xp_engine.forward(np, prog, w, x, psi, B, np.complex128)
    np.testing.assert_allclose(st, final_state(c, w, x, psi, backend="numpy"), atol=1e-12)
    np.testing.assert_allclose(xp_engine.expvals(np, st, OBS, 5), expval(c, OBS, w, x, psi, backend="numpy"),
                               atol=1e-12)
    cot = rng.normal(size=(B, len(OBS)))
    values, gw, gx, gs = xp_engine.adjoint(np, prog, OBS, cot, w, x, psi, B, np.complex128,
                                           backward_program=lower(c, min(fusion, 1)))
    rw, rx, rs = reference.adjoint_vjp(c, OBS, cot, w, x, psi, B)
    np.testing.assert_allclose(gw, rw, atol=1e-10)
    np.testing.assert_allclose(gx, rx, atol=1e-10)
    np.testing.assert_allclose(gs, rs, atol=1e-10)


def test_xp_real_path():
    from qsim import Circuit
    from qsim.ansatz import angle_encoding, long_range_pqc

    rng = np.random.default_rng(3)
    c = Circuit(4, tuple(angle_encoding(4) + long_range_pqc(4, 2, 2)))
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(2, 4))
    st = xp_engine.forward(np, lower(c), w, x, None, 2, np.float32)
    assert st.dtype == np.float32
    np.testing.assert_allclose(xp_engine.expvals(np, st, z_each(4), 4), expval(c, z_each(4), w, x), atol=1e-5)


def test_cupy_backend_without_gpu_is_a_clear_error():
    from qsim import CircuitError
    from qsim_testutils import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    c = random_circuit(np.random.default_rng(0), 2, 3, inputs=False)
    with pytest.raises(CircuitError, match="backend 'cupy' needs CuPy"):
        final_state(c, np.zeros(c.n_weights), backend="cupy")
