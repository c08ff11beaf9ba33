"""Parameter-shift gradients, usable with shots and with any (noisy) evaluator.

For a gate whose generator ``G`` has two distinct eigenvalues ``λ_1 > λ_2`` (``U = e^{-iθG}``),
``⟨O⟩(θ)`` is a sinusoid of frequency ``2r``, ``r = (λ_1 - λ_2)/2``, and exactly

.. math::  \\frac{d⟨O⟩}{dθ} = r\\,[⟨O⟩(θ + s) - ⟨O⟩(θ - s)],\\qquad s = \\frac{π}{4r}.

(``RX/RY/RZ/RXX/…``: ``r = 1/2``, ``s = π/2``; ``PhaseShift``: the same.)  The shift is derived
from the gate's generator (:attr:`qsim.gates.Gate.shift_rule`); gates with more eigenvalues
(``CRX``, ``CRY``, ``CRZ``) raise a clear error.  A parameter used by several gates gets the sum
of its per-gate rules (product rule), each scaled by the reference's ``scale``.

:func:`shift_vjp` is the one loop: it takes any evaluator ``circuit -> (B, m)`` expectation
values, exact or shot-based, noiseless or noisy, on pure or mixed initial states, so it serves
every engine; :func:`param_shift_vjp` is that loop on qsim's own (exact or shot) evaluators.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..circuit import SRC_CONST, SRC_INPUT, SRC_WEIGHT, Circuit, CircuitError, Operation
from ..errors import InputError
from ..observables import as_observables
from ..results import VJP, check_cotangents, scatter
from ..validate import check_batch

__all__ = ["shifted_circuits", "shift_vjp", "param_shift_vjp", "WRT"]

#: What a parameter-shift VJP can differentiate, and the angle source each name stands for.
WRT = {"weights": SRC_WEIGHT, "inputs": SRC_INPUT}


def shifted_circuits(circuit: Circuit):
    """Yield ``(param_ref, r, circuit_plus, circuit_minus)`` for every trainable angle occurrence.

    Multi-parameter gates (``U3``) are shifted per parameter through their decomposition.
    """
    for k, o in enumerate(circuit.ops):
        for pi, p in enumerate(o.params):
            if p.source == SRC_CONST:
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
                params[pi] = p.shifted(sign * s)
                ops = list(circuit.ops)
                ops[k] = Operation(o.gate, o.wires, tuple(params))
                out.append(Circuit(circuit.n_qubits, tuple(ops), circuit.n_weights, circuit.n_inputs))
            yield p, r, out[0], out[1]


#: Default ``wrt``: every trainable angle.
WRT_ALL = ("weights", "inputs")


def _check_wrt(wrt: Iterable[str]) -> frozenset[int]:
    names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    bad = [w for w in names if w not in WRT]
    if bad or not names:
        raise InputError(f"wrt = {wrt!r} must name one or more of {tuple(WRT)}")
    return frozenset(WRT[w] for w in names)


def shift_vjp(circuit: Circuit, evaluate: Callable[[Circuit], np.ndarray], cotangents, *,
              wrt: Iterable[str] = WRT_ALL) -> VJP:
    """VJP of ``f = Σ_{b,j} c_{bj} E(circuit)_{bj}`` by the parameter-shift rule, for any evaluator ``E``.

    For every occurrence of a trainable angle ``θ = scale · v + offset`` (weight or input) with
    shift rule ``(r, s)`` (:func:`shifted_circuits`), ``∂f/∂θ_b = r Σ_j c_{bj} [E(θ+s) - E(θ-s)]_{bj}``
    is passed on to ``v`` by :func:`qsim.results.scatter`.  Cost: one evaluation of ``circuit``
    plus two per requested angle occurrence.

    Args:
        circuit: the circuit whose angles are shifted (rebuilt per shift: the evaluator applies
            whatever noise or measurement it models to each shifted circuit).
        evaluate: ``circuit -> (B, m)`` expectation values (exact, shot estimates, noisy; the
            weights, inputs and initial states it uses are its own business).
        cotangents: ``c (B, m)`` (a ``(m,)`` vector when ``B = 1``).
        wrt: ``"weights"``, ``"inputs"`` or both: the angles to differentiate (the others are
            not shifted, and their gradient is ``None``).

    Returns:
        :class:`~qsim.results.VJP` with ``values = E(circuit)``, ``weights (P,)`` and ``inputs
        (B, k)`` (``None`` when not requested or when the circuit reads no inputs) and
        ``state = None`` (the shift rule gives no state gradient).

    Raises:
        InputError: for a bad ``wrt``; CircuitError: for cotangents of the wrong shape or a gate
            without a two-term shift rule.
    """
    sources = _check_wrt(wrt)
    values = np.asarray(evaluate(circuit))
    B = values.shape[0]
    cot = check_cotangents(cotangents, B, values.shape[1])
    gw = np.zeros(circuit.n_weights) if SRC_WEIGHT in sources else None
    gx = np.zeros((B, circuit.n_inputs)) if SRC_INPUT in sources and circuit.n_inputs else None
    for p, r, cp, cm in shifted_circuits(circuit):
        if p.source not in sources:
            continue
        g = (r * (evaluate(cp) - evaluate(cm)) * cot).sum(axis=1)          # ∂f/∂θ per sample, (B,)
        scatter(p, g, gw, gx)
    return VJP(values, gw, gx, None)


def param_shift_vjp(circuit: Circuit, observables, cotangents, weights=None, inputs=None, state=None, *,
                    evaluate: Callable[[Circuit], np.ndarray] | None = None, shots: int | None = None,
                    seed=None, backend: str = "numba", precision: str = "double") -> VJP:
    """VJP by the parameter-shift rule (``2 × #trainable angles`` evaluations): :func:`shift_vjp`
    with respect to weights and inputs.

    Args:
        evaluate: ``circuit -> (B, m)``; default: exact expectations, or shot estimates with
            ``shots`` shots (seeded by ``seed``) when ``shots`` is given.
    Returns:
        :class:`~qsim.results.VJP` (``state`` is ``None``: parameter-shift gives no state
        gradient).
    """
    from ..simulate import expval

    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    check_cotangents(cotangents, b.size, len(obs))
    if evaluate is None:
        rng = np.random.default_rng(seed)

        def evaluate(c: Circuit) -> np.ndarray:
            return expval(c, obs, b.weights, b.inputs, b.state, shots=shots, seed=rng, backend=backend,
                          precision=precision)

    return shift_vjp(circuit, evaluate, cotangents)
