"""Full Jacobians ``∂⟨O_j⟩_b/∂w`` and ``∂⟨O_j⟩_b/∂x`` by one VJP per output.

Samples are independent, so a unit cotangent on output ``j`` of every sample at once gives row
``j`` of each sample's input Jacobian; weight Jacobians need one sweep per ``(b, j)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..observables import as_observables
from ..validate import check_batch
from .adjoint import adjoint_vjp as vjp
from .param_shift import param_shift_vjp

__all__ = ["jacobian"]


def jacobian(circuit, observables, weights=None, inputs=None, state=None, *, method: str = "adjoint", **kw):
    """Returns ``{"weights": (B, m, P), "inputs": (B, m, k) | None}``.

    ``method``: ``"adjoint"`` or ``"param_shift"`` (extra keywords go to the VJP function).
    """
    fn = {"adjoint": vjp, "param_shift": param_shift_vjp}.get(method)
    if fn is None:
        raise InputError(f"method {method!r} must be 'adjoint' or 'param_shift'")
    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    B, m = b.size, len(obs)
    jw = np.zeros((B, m, circuit.n_weights))
    jx = np.zeros((B, m, circuit.n_inputs)) if circuit.n_inputs else None
    for j in range(m):
        cot = np.zeros((B, m))
        cot[:, j] = 1.0
        if jx is not None:
            jx[:, j, :] = fn(circuit, obs, cot, b.weights, b.inputs, b.state, **kw).inputs
        for bb in range(B):
            cot = np.zeros((B, m))
            cot[bb, j] = 1.0
            jw[bb, j, :] = fn(circuit, obs, cot, b.weights, b.inputs, b.state, **kw).weights
    return {"weights": jw, "inputs": jx}
