"""The NumPy reference backend: short and obviously right; the oracle of every fast path.

The state is a tensor ``(B, 2, ..., 2)`` with qubit ``q`` on axis ``1 + q`` (qubit 0 most
significant).  A gate with batched matrices ``U (B|1, d, d)`` on wires ``ws`` is applied by
moving those axes last and multiplying: ``ψ'[b, r, :] = U[b] ψ[b, r, :]``.  Expectations use
dense Pauli factors applied the same way; the adjoint VJP walks the operations backwards with
the analytic ``dU/dθ`` of :meth:`qsim.gates.Gate.derivatives`.  Complex128 throughout.

It implements the :class:`qsim.backends.Backend` protocol (:class:`ReferenceBackend`) but reads
the circuit, never the lowered program: an oracle must stay independent of the lowering it checks.
"""

from __future__ import annotations

import numpy as np

from ..circuit import Circuit, Operation
from ..gates import PAULI
from ..observables import Observable
from ..precision import DOUBLE
from ..results import scatter
from ..validate import check_memory

__all__ = ["op_thetas", "apply_matrix", "final_state", "expval", "apply_observable", "adjoint_vjp",
           "ReferenceBackend", "BACKEND"]


def op_thetas(o: Operation, weights: np.ndarray, inputs: np.ndarray | None, B: int) -> np.ndarray:
    """Angles of ``o``'s parameters, ``(B, num_params)``."""
    cols = [np.broadcast_to(p.angle(weights, inputs), (B,)) for p in o.params]
    return np.stack(cols, axis=1) if cols else np.zeros((B, 0))


def apply_matrix(psi: np.ndarray, U: np.ndarray, wires: tuple[int, ...]) -> np.ndarray:
    """``U (B|1, d, d)`` on ``wires`` of ``psi (B, 2, ..., 2)``; returns a new array."""
    k = len(wires)
    axes = [1 + w for w in wires]
    moved = np.moveaxis(psi, axes, list(range(psi.ndim - k, psi.ndim)))
    shape = moved.shape
    flat = moved.reshape(shape[0], -1, 2**k)
    out = np.einsum("bij,brj->bri", np.broadcast_to(U, (shape[0],) + U.shape[1:]), flat)
    return np.moveaxis(out.reshape(shape), list(range(psi.ndim - k, psi.ndim)), axes)


def _initial(circuit: Circuit, state: np.ndarray | None, B: int) -> np.ndarray:
    n = circuit.n_qubits
    check_memory(n, B, np.complex128)
    if state is None:
        psi = np.zeros((B, 2**n), dtype=complex)
        psi[:, 0] = 1.0
    else:
        psi = np.array(state, dtype=complex)
    return psi.reshape((B,) + (2,) * n)


def final_state(circuit: Circuit, weights, inputs, state, B: int) -> np.ndarray:
    psi = _initial(circuit, state, B)
    for o in circuit.ops:
        psi = apply_matrix(psi, o.gate.matrices(op_thetas(o, weights, inputs, B)), o.wires)
    return psi.reshape(B, -1)


def apply_observable(obs: Observable, psi: np.ndarray) -> np.ndarray:
    """``O ψ`` for a batched state tensor."""
    out = np.zeros_like(psi)
    for t in obs.terms:
        phi = psi
        for p, w in zip(t.paulis, t.wires):
            phi = apply_matrix(phi, PAULI[p][None], (w,))
        out = out + t.coeff * phi
    return out


def expvals(states: np.ndarray, observables, n_qubits: int) -> np.ndarray:
    """``⟨ψ_b|O_j|ψ_b⟩`` of final states ``(B, 2**n)``: ``(B, m)``."""
    B = states.shape[0]
    psi = states.reshape((B,) + (2,) * n_qubits)
    cols = [np.einsum("bi,bi->b", psi.reshape(B, -1).conj(), apply_observable(o, psi).reshape(B, -1)).real
            for o in observables]
    return np.stack(cols, axis=1)


def expval(circuit: Circuit, observables, weights, inputs, state, B: int) -> np.ndarray:
    return expvals(final_state(circuit, weights, inputs, state, B), observables, circuit.n_qubits)


def adjoint_vjp(circuit: Circuit, observables, cotangents, weights, inputs, state, B: int):
    """Reference adjoint VJP: returns ``(grad_weights (P,), grad_inputs (B,k)|None, grad_state (B,N)|None)``.

    ``f = Σ_{b,j} c_{bj} ⟨ψ_b|O_j|ψ_b⟩``; ``λ = Σ_j c_{bj} O_j ψ``; walking back through
    ``U_K ... U_1``: ``ψ ← U_k† ψ``, ``∂f/∂θ = 2 Re⟨λ|∂U_k/∂θ|ψ⟩``, ``λ ← U_k† λ``; finally
    ``∂f/∂ψ_0^* `` gives the state cotangent ``2 λ`` (the real-part gradient of a real state is
    ``2 Re λ``).
    """
    n = circuit.n_qubits
    shape = (B,) + (2,) * n
    psi = final_state(circuit, weights, inputs, state, B).reshape(shape)
    lam = np.zeros_like(psi)
    for j, o in enumerate(observables):
        lam = lam + cotangents[:, j].reshape((B,) + (1,) * n) * apply_observable(o, psi)
    gw = np.zeros(circuit.n_weights)
    gx = np.zeros((B, circuit.n_inputs)) if circuit.n_inputs else None
    for o in reversed(circuit.ops):
        th = op_thetas(o, weights, inputs, B)
        U = o.gate.matrices(th)
        Udag = np.conj(np.swapaxes(U, -1, -2))
        psi = apply_matrix(psi, Udag, o.wires)
        for k, dU in enumerate(o.gate.derivatives(th)):
            g = 2 * np.einsum("bi,bi->b", lam.reshape(B, -1).conj(), apply_matrix(psi, dU, o.wires).reshape(B, -1)).real
            scatter(o.params[k], g, gw, gx)
        lam = apply_matrix(lam, Udag, o.wires)
    gs = 2 * lam.reshape(B, -1) if state is not None else None
    return gw, gx, gs


class ReferenceBackend:
    """``"numpy"``: this module behind the :class:`qsim.backends.Backend` protocol.

    It runs the circuit gate by gate in complex128 whatever ``dtype`` it is given (the values of
    the real fast path are the same numbers), never reads the lowered program, and so takes no
    fusion level (``default_fusion = None``).
    """

    name = "numpy"
    device = "cpu"
    description = "numpy reference backend"
    precisions = (DOUBLE,)
    default_fusion = None

    def forward(self, circuit: Circuit, program, weights, inputs, state, batch: int, dtype) -> np.ndarray:
        return final_state(circuit, weights, inputs, state, batch)

    def expvals(self, states: np.ndarray, observables, n_qubits: int) -> np.ndarray:
        return expvals(states, observables, n_qubits)

    def adjoint(self, circuit: Circuit, program, backward_program, observables, cotangents, weights, inputs, state,
                batch: int, dtype):
        gw, gx, gs = adjoint_vjp(circuit, observables, cotangents, weights, inputs, state, batch)
        return expval(circuit, observables, weights, inputs, state, batch), gw, gx, gs

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        return np.abs(states) ** 2

    def to_numpy(self, a: np.ndarray) -> np.ndarray:
        return a

    def memory_sweeps(self, program, batch: int, dtype) -> None:
        """``None``: the oracle applies the circuit's gates one by one, not a lowered program."""
        return None


#: The registered instance (:func:`qsim.backends.get_backend`).
BACKEND = ReferenceBackend()
