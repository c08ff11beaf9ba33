"""Parameter-shift gradients, usable with shots and with any (noisy) evaluator.

For a gate whose generator ``G`` has two distinct eigenvalues ``λ_1 > λ_2`` (``U = e^{-iθG}``),
``⟨O⟩(θ)`` is a sinusoid of frequency ``2r``, ``r = (λ_1 - λ_2)/2``, and exactly

.. math::  \\frac{d⟨O⟩}{dθ} = r\\,[⟨O⟩(θ + s) - ⟨O⟩(θ - s)],\\qquad s = \\frac{π}{4r}.

(``RX/RY/RZ/RXX/…``: ``r = 1/2``, ``s = π/2``; ``PhaseShift``: the same.)  The shift is derived
from the gate's generator (:attr:`qsim.gates.Gate.shift_rule`); gates with more eigenvalues
(``CRX``, ``CRY``, ``CRZ``) raise a clear error.  A parameter used by several gates gets the sum
of its per-gate rules (product rule), each scaled by the reference's ``scale``.

The evaluator is any function ``circuit -> (B, m)`` expectation values, exact or shot-based,
noiseless or noisy, so this module serves every engine.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..circuit import Circuit, CircuitError, Const, Input, Operation, Weight
from ..observables import as_observables
from ..validate import check_batch
from .adjoint import VJP, check_cotangents

__all__ = ["shifted_circuits", "param_shift_vjp"]


def _shift_param(p, s: float):
    if isinstance(p, Weight):
        return Weight(p.index, p.scale, p.offset + s)
    if isinstance(p, Input):
        return Input(p.index, p.scale, p.offset + s)
    return Const(p.value + s)


def shifted_circuits(circuit: Circuit):
    """Yield ``(param_ref, r, circuit_plus, circuit_minus)`` for every trainable angle occurrence.

    Multi-parameter gates (``U3``) are shifted per parameter through their decomposition.
    """
    for k, o in enumerate(circuit.ops):
        for pi, p in enumerate(o.params):
            if isinstance(p, Const):
                continue
            if o.gate.decomposition:
                comps = [g for g, idx in o.gate.decomposition if idx == pi]
                if len(comps) != 1:
                    raise CircuitError(f"{o.gate.name}: parameter {pi} appears {len(comps)} times in its decomposition")
                r, s = comps[0].shift_rule
            else:
                try:
                    r, s = o.gate.shift_rule
                except Exception as exc:
                    raise CircuitError(f"operation {k} ({o!r}): {exc}") from None
            out = []
            for sign in (1.0, -1.0):
                params = list(o.params)
                params[pi] = _shift_param(p, sign * s)
                ops = list(circuit.ops)
                ops[k] = Operation(o.gate, o.wires, tuple(params))
                out.append(Circuit(circuit.n_qubits, tuple(ops), circuit.n_weights, circuit.n_inputs))
            yield p, r, out[0], out[1]


def param_shift_vjp(circuit: Circuit, observables, cotangents, weights=None, inputs=None, state=None, *,
                    evaluate: Callable[[Circuit], np.ndarray] | None = None, shots: int | None = None,
                    seed=None, backend: str = "numba", precision: str = "double") -> VJP:
    """VJP by the parameter-shift rule (``2 × #trainable angles`` evaluations).

    Args:
        evaluate: ``circuit -> (B, m)``; default: exact expectations, or shot estimates with
            ``shots`` shots (seeded by ``seed``) when ``shots`` is given.
    Returns:
        :class:`~qsim.grad.adjoint.VJP` (``state`` is ``None``: parameter-shift gives no state
        gradient).
    """
    from ..simulate import expval, sample_expval

    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    cot = check_cotangents(cotangents, b.size, len(obs))
    if evaluate is None:
        rng = np.random.default_rng(seed)
        if shots is None:
            evaluate = lambda c: expval(c, obs, b.weights, b.inputs, b.state, backend=backend, precision=precision)  # noqa: E731
        else:
            evaluate = lambda c: sample_expval(c, obs, shots, b.weights, b.inputs, b.state, seed=rng,  # noqa: E731
                                               backend=backend, precision=precision)
    values = evaluate(circuit)
    gw = np.zeros(circuit.n_weights)
    gx = np.zeros((b.size, circuit.n_inputs)) if circuit.n_inputs else None
    for p, r, cp, cm in shifted_circuits(circuit):
        d = r * (evaluate(cp) - evaluate(cm))            # (B, m)
        g = (d * cot).sum(axis=1) * p.scale              # (B,)
        if isinstance(p, Weight):
            gw[p.index] += g.sum()
        else:
            gx[:, p.index] += g
    return VJP(values, gw, gx, None)
