"""Density-matrix engine: batched ``ρ (B, 2**n, 2**n)`` evolved as ``2n``-qubit vectors.

**Vectorisation.**  ``vec(ρ)[i·2**n + j] = ρ[i, j]``: row qubits are wires ``0..n-1`` and column
qubits wires ``n..2n-1`` of a ``2n``-qubit register (qubit 0 most significant, as everywhere in
qsim).  Since ``vec(AρB) = (A ⊗ Bᵀ) vec(ρ)``,

* a gate ``U`` on wires ``ws`` is ``U`` on ``ws`` and ``conj(U)`` on ``n + ws``;
* a channel with Kraus operators ``K_a`` on ``ws`` is the superoperator ``S = Σ_a K_a ⊗ conj(K_a)``
  on ``(ws, n + ws)``: a (non-unitary) ``d² × d²`` matrix.

**Fusion and kernels.**  Consecutive instructions are fused into *blocks* on one to three
physical qubits (a block's superoperator is the product of its members', embedded with
identities), then each block is one pass of :mod:`qsim.noise.kernels` over the doubled register:
a dense unrolled ``4 × 4`` for one-qubit blocks, or a sparse pass on the block's fixed pattern of
non-zeros (CNOT followed by depolarizing noise on both wires: 36 of 256 entries).  Fusion is
greedy with a cost model (:data:`PASS_COST`): a member joins the block of its wires when that
is cheaper than a separate pass.  The plan (blocks, patterns) is cached per circuit *structure*
(angles excluded), so shifted circuits of the parameter-shift rule reuse it; values are bound
per call, per sample only for blocks that read inputs.

**Real fast path.**  When every block is real (RY, CNOT, CZ, X, Z, H with any Pauli channel,
amplitude or phase damping, ...) and the initial state is real, ``ρ`` stays real symmetric and
the engine runs in float64.

Modules, one per concern:

* :mod:`.plan`: elements, greedy fusion and its cost model, superoperators, sparsity patterns,
  the structure-keyed plan cache, flat kernel arrays;
* :mod:`.bind`: slot angles, pattern values, NumPy prefix/suffix derivatives;
* :mod:`.run`: scheduling of the pass kernels, adjoint passes, correlation;
* :mod:`.states`: ``vec(ρ)`` conversions, state validation, initial vectors, dtype;
* :mod:`.evolve`: :func:`evolve`, its NumPy oracle, and the public helpers built on it;
* :mod:`.observables`: ``Tr(Oρ)`` and ``vec(O)`` on ``vec(ρ)``, ``diag ρ``.

Quantum-information helpers (purity, partial trace, fidelity, trace distance) live in
:mod:`qsim.noise.qinfo` and are re-exported here.

``density.plan`` and ``density.evolve`` are the functions (as before the split); the other
engines of :mod:`qsim.noise` import the modules' functions by their full path
(``from qsim.noise.density.run import run``), and ``density.run`` / ``density.bind`` are the
modules.  Tuning constants live with the code they tune: patch ``density.run.SERIAL_MAX_WORK``,
not the re-exported copy.
"""

from ..qinfo import fidelity, partial_trace, purity, trace_distance
from .evolve import basis_probabilities, density_matrix, evolve, expval_density, probabilities_density
from .observables import expval_rho, observable_vectors, probabilities_rho, vec_expvals
from .plan import DENSE4_MIN_NNZ, PASS_COST, DensityPlan, plan
from .run import SAMPLE_MAJOR_MAX_QUBITS, SERIAL_MAX_WORK, SPLIT_BITS
from .states import TRACE_ATOL, initial_vectors, matrix_to_vec, pure_density, vec_to_matrix

__all__ = [
    "DensityPlan", "plan", "evolve", "density_matrix", "expval_density", "probabilities_density",
    "initial_vectors", "vec_expvals", "observable_vectors", "vec_to_matrix", "matrix_to_vec",
    "pure_density", "expval_rho", "probabilities_rho", "purity", "partial_trace", "fidelity",
    "trace_distance", "PASS_COST", "DENSE4_MIN_NNZ", "SAMPLE_MAJOR_MAX_QUBITS", "SERIAL_MAX_WORK",
    "SPLIT_BITS", "TRACE_ATOL", "basis_probabilities",
]
