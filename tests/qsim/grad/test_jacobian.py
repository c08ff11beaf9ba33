"""The Jacobian (:mod:`qsim.grad.jacobian`): adjoint = parameter-shift = finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from qsim_testutils import random_circuit

from qsim import expval, z_each
from qsim.gates import GATES
from qsim.grad import jacobian

SHIFTABLE = [g for name, g in GATES.items() if name not in ("CRX", "CRY", "CRZ")]


def test_jacobian():
    rng = np.random.default_rng(2)
    c = random_circuit(rng, 3, 15, SHIFTABLE)
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(2, c.n_inputs))
    obs = z_each(3)
    ja = jacobian(c, obs, w, x)
    jp = jacobian(c, obs, w, x, method="param_shift")
    assert ja["weights"].shape == (2, 3, c.n_weights)
    np.testing.assert_allclose(ja["weights"], jp["weights"], atol=1e-9)
    np.testing.assert_allclose(ja["inputs"], jp["inputs"], atol=1e-9)
    e = 1e-6
    for k in range(c.n_weights):
        d = np.zeros_like(w)
        d[k] = e
        fd = (expval(c, obs, w + d, x) - expval(c, obs, w - d, x)) / (2 * e)
        np.testing.assert_allclose(ja["weights"][:, :, k], fd, atol=1e-6)
    with pytest.raises(ValueError, match="method 'fd'"):
        jacobian(c, obs, w, x, method="fd")
