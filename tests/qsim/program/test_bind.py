"""Binding: pass and factor matrices against the gates' own matrices (independent of the lowering's
embedding), derivatives against finite differences, and the chain rule against a brute-force scatter."""

from __future__ import annotations

import numpy as np
import pytest
from qsim_testutils import random_circuit

from qsim.circuit import SRC_CONST
from qsim.gates import GATES
from qsim.grad import scatter
from qsim.program import KIND_CTRL, KIND_CTRL_DIAG, KIND_CTRL_X, lower
from qsim.program.bind import factor_grads_to_params, initial_states, matrices, pass_matrices

_CTRL = (KIND_CTRL, KIND_CTRL_X, KIND_CTRL_DIAG)


def _block(a: np.ndarray, off: int, d: int) -> np.ndarray:
    return a[off:off + d * d].reshape(d, d)


@pytest.mark.parametrize("seed", range(3))
def test_level0_pass_matrices_are_the_gate_matrices(seed):
    """At fusion 0 every pass is one operation (U3, a product, is three: left out): its matrix is
    ``gate.matrices(θ)`` (the base gate on the target for a controlled pass), per sample for
    passes that read inputs."""
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 4, 30, [g for g in GATES.values() if not g.decomposition])
    B = 3
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs))
    prog = lower(c, 0)
    mats, _, _ = pass_matrices(prog, prog.angles(w, x), False)
    assert prog.n_passes == len(c)
    for p, o in enumerate(c.ops):
        thetas = np.stack([np.broadcast_to(ref.angle(w, x), (B,)) for ref in o.params], axis=1) if o.params \
            else np.zeros((B, 0))
        want = o.gate.matrices(thetas)                                 # (B, D, D) on the operation's wires
        d = int(prog.dim[p])
        if prog.kind[p] in _CTRL:
            want = want[:, -d:, -d:]
        for b in range(B):
            row = b if prog.per_sample_pass[p] else 0
            np.testing.assert_allclose(_block(mats[row], prog.m_off[p], d), want[b], atol=1e-12)


@pytest.mark.parametrize("fusion", [0, 1, 2])
def test_factors_multiply_to_the_pass_and_derivatives_match_finite_differences(fusion):
    rng = np.random.default_rng(7 + fusion)
    c = random_circuit(rng, 4, 40)
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(2, c.n_inputs))
    prog = lower(c, fusion)
    theta = prog.angles(w, x)
    mats, fm, dfm = pass_matrices(prog, theta, True)
    eps = 1e-6
    for p in range(prog.n_passes):
        d = int(prog.dim[p])
        for row in range(theta.shape[0]):
            u = np.eye(d, dtype=complex)
            for f in range(prog.f_start[p], prog.f_start[p + 1]):
                u = _block(fm[row], prog.f_off[f], d) @ u
                shift = np.zeros(prog.n_factors)
                shift[f] = eps
                plus = pass_matrices(prog, prog.angles(w, x, shift), True)[1]
                minus = pass_matrices(prog, prog.angles(w, x, -shift), True)[1]
                fd = (_block(plus[row], prog.f_off[f], d) - _block(minus[row], prog.f_off[f], d)) / (2 * eps)
                np.testing.assert_allclose(_block(dfm[row], prog.f_off[f], d), fd, atol=1e-7)
            if prog.per_sample_pass[p] or row == 0:
                np.testing.assert_allclose(_block(mats[row], prog.m_off[p], d), u, atol=1e-12)


def test_matrices_cast_and_real_part():
    c = random_circuit(np.random.default_rng(1), 3, 12, [GATES["RY"], GATES["CNOT"]], inputs=False)
    prog = lower(c, 1)
    theta = prog.angles(np.random.default_rng(2).normal(size=c.n_weights), None)
    full = pass_matrices(prog, theta, True)
    for dtype in (np.complex64, np.float32, np.float64):
        got = matrices(prog, theta, dtype, True)
        for g, f in zip(got, full):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, f.real if np.dtype(dtype).kind == "f" else f, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_factor_grads_to_params_is_scatter_over_every_factor(seed):
    """The vectorised chain rule equals :func:`qsim.grad.scatter` applied angle by angle."""
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 4, 30)
    B = 3
    prog = lower(c, 1)
    g = rng.normal(size=(B, prog.n_factors))
    gw, gx = factor_grads_to_params(prog, g, B)
    # factor f reads operation op_index[f]; U3's three factors read its three parameters in
    # decomposition order, other gates their only parameter
    want_w, want_x = np.zeros(c.n_weights), np.zeros((B, c.n_inputs))
    for f in range(prog.n_factors):
        if prog.src[f] == SRC_CONST:
            continue
        o = c.ops[prog.op_index[f]]
        same_op = [k for k in range(prog.n_factors) if prog.op_index[k] == prog.op_index[f]]
        pi = o.gate.decomposition[same_op.index(f)][1] if o.gate.decomposition else 0
        scatter(o.params[pi], g[:, f], want_w, want_x)
    np.testing.assert_allclose(gw, want_w, atol=1e-12)
    if c.n_inputs:
        np.testing.assert_allclose(gx, want_x, atol=1e-12)


def test_initial_states():
    st = initial_states(3, 2, None, np.float32)
    assert st.dtype == np.float32 and st.shape == (2, 8) and np.all(st[:, 0] == 1) and st.sum() == 2
    psi = np.full((2, 8), 1 / np.sqrt(8), dtype=complex)
    out = initial_states(3, 2, psi, np.complex64)
    assert out.dtype == np.complex64 and out is not psi
    np.testing.assert_allclose(out, psi, atol=1e-7)
    np.testing.assert_allclose(initial_states(3, 2, psi, np.float64), psi.real)


def test_old_kernel_name_is_a_deprecated_alias():
    import qsim.backends.numba_kernels as K
    from qsim.program.bind import bind_kernel

    with pytest.warns(DeprecationWarning, match="qsim.program.bind.bind_kernel"):
        assert K.bind is bind_kernel
