"""Evolution: :func:`evolve` (plan, bind, run) and its NumPy oracle, and the public helpers built
on it (final density matrices, exact expectations, probabilities, probabilities in a basis).

The NumPy reference (``backend="numpy"``) applies Kraus operators with ``einsum`` on the
``(B, 2, …, 2)`` tensor of ``ρ``: ``ρ ← Σ_a K_a ρ K_a†`` with ``K`` on ``ws`` and ``conj(K)`` on
``n + ws``; it is the oracle of the fast path.
"""

from __future__ import annotations

import numpy as np

from ...backends import reference as ref
from ...circuit import Circuit, CircuitError
from ...measure import apply_readout_to_probabilities, basis_change_ops
from ...observables import as_observables
from ..models import ChannelOp, NoiseModel, NoisyCircuit, as_noisy
from .bind import bind
from .observables import probabilities_rho, vec_expvals
from .plan import plan
from .run import run
from .states import initial_vectors, resolve_dtype, split_state, vec_to_matrix

__all__ = ["evolve", "reference_evolve", "density_matrix", "expval_density", "probabilities_density",
           "basis_probabilities", "BACKENDS"]

#: Density-matrix backends: the fused Numba engine and the NumPy oracle.
BACKENDS = ("numba", "numpy")


def evolve(noisy: NoisyCircuit, weights=None, inputs=None, state=None, *, backend: str = "numba",
           real: bool | None = None, fusion: bool = True) -> np.ndarray:
    """``vec(ρ)`` after the noisy circuit, ``(B, 4**n)`` (float64 on the real path, else complex128).

    ``state``: pure states ``(B, 2**n)`` or density matrices ``(B, 2**n, 2**n)`` (default ``|0…0⟩``).
    """
    b, psi, rho = split_state(noisy.circuit, weights, inputs, state)
    n = noisy.n_qubits
    if backend == "numpy":
        return reference_evolve(noisy, b.weights, b.inputs, psi, rho, b.size)
    if backend != "numba":
        raise CircuitError(f"density-matrix backend {backend!r} must be 'numba' or 'numpy'")
    pl = plan(noisy, fusion)
    dtype = resolve_dtype(pl, psi, rho, real)
    st = initial_vectors(n, b.size, psi, rho, dtype)
    if pl.n_passes:
        run(pl, st, bind(pl, noisy, b.weights, b.inputs, b.size, dtype, False).vals)
    return st


def reference_evolve(noisy: NoisyCircuit, weights, inputs, psi, rho, B: int) -> np.ndarray:
    """NumPy oracle: ``ρ ← Σ_a K_a ρ K_a†`` with ``K`` on ``ws`` and ``conj(K)`` on ``n + ws``."""
    n = noisy.n_qubits
    v = initial_vectors(n, B, psi, rho, np.complex128).reshape((B,) + (2,) * (2 * n))
    for ins in noisy.instructions:
        ws = ins.wires
        cw = tuple(n + w for w in ws)
        if isinstance(ins, ChannelOp):
            acc = np.zeros_like(v)
            for kop in ins.channel.kraus:
                acc = acc + ref.apply_matrix(ref.apply_matrix(v, kop[None], ws), kop.conj()[None], cw)
            v = acc
        else:
            u = ins.gate.matrices(ref.op_thetas(ins, weights, inputs, B))
            v = ref.apply_matrix(ref.apply_matrix(v, u, ws), u.conj(), cw)
    return v.reshape(B, -1)


def basis_probabilities(vec: np.ndarray, n: int, basis: dict[int, str]) -> np.ndarray:
    """True outcome probabilities ``(B, 2**n)`` of ``vec(ρ)`` after rotating each wire of ``basis``
    (``{wire: 'X'|'Y'|'Z'}``) to Z (:func:`qsim.measure.basis_change_ops`); ``vec`` is not modified."""
    ops = basis_change_ops(basis)
    v = vec
    if ops:
        rot = NoisyCircuit(Circuit(n, tuple(ops)), tuple(ops))
        pl = plan(rot)
        v = np.array(vec, dtype=np.complex128)
        run(pl, v, bind(pl, rot, np.zeros(0), None, v.shape[0], v.dtype, False).vals)
    return probabilities_rho(vec_to_matrix(v, n))


def density_matrix(circuit: Circuit | NoisyCircuit, weights=None, inputs=None, state=None, *,
                   model: NoiseModel | None = None, backend: str = "numba", real: bool | None = None,
                   fusion: bool = True) -> np.ndarray:
    """Final density matrices ``(B, 2**n, 2**n)`` of ``circuit`` under ``model`` (or of a NoisyCircuit)."""
    noisy = as_noisy(circuit, model)
    return vec_to_matrix(evolve(noisy, weights, inputs, state, backend=backend, real=real, fusion=fusion),
                         noisy.n_qubits)


def expval_density(circuit: Circuit | NoisyCircuit, observables, weights=None, inputs=None, state=None, *,
                   model: NoiseModel | None = None, backend: str = "numba", real: bool | None = None,
                   fusion: bool = True) -> np.ndarray:
    """Exact ``Tr(O_j ρ_b)`` ``(B, m)`` of the noisy final state (no readout error: see
    :func:`qsim.noise.expval_noisy` for measured expectations)."""
    noisy = as_noisy(circuit, model)
    obs = as_observables(observables)
    vec = evolve(noisy, weights, inputs, state, backend=backend, real=real, fusion=fusion)
    return vec_expvals(vec, obs, noisy.n_qubits)


def probabilities_density(circuit: Circuit | NoisyCircuit, weights=None, inputs=None, state=None, *,
                          model: NoiseModel | None = None, backend: str = "numba", readout: bool = True,
                          fusion: bool = True) -> np.ndarray:
    """Measurement probabilities ``(B, 2**n)``: ``diag ρ``, then the readout confusion when
    ``readout`` and the noisy circuit has readout errors."""
    noisy = as_noisy(circuit, model)
    vec = evolve(noisy, weights, inputs, state, backend=backend, fusion=fusion)
    p = probabilities_rho(vec_to_matrix(vec, noisy.n_qubits))
    if readout and noisy.readout is not None:
        p = apply_readout_to_probabilities(p, noisy.readout_array)
    return p
