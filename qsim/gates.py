"""Gate catalogue: frozen dataclasses that carry their matrix or their generator.

Conventions (used everywhere in qsim):

* qubit 0 is the **most significant** bit of a basis-state index (``numpy.kron`` order), so
  the matrix of a gate on wires ``(a, b)`` acts on the index bits ``(a, b)`` in that order;
* angles are in radians;
* a rotation about a Pauli operator is ``R_P(θ) = exp(-i θ P / 2)``.

Every gate is written in *spectral form*

.. math::

    U(θ) = \\sum_k e^{-i θ λ_k} M_k ,

where for a parametric gate with Hermitian generator ``G`` (``U(θ) = exp(-i θ G)``) the
``λ_k`` are the distinct eigenvalues of ``G`` and the ``M_k`` its spectral projectors, and
for a constant gate there is one term with ``λ = 0`` and ``M = U``.  The same data gives the
derivative ``dU/dθ = Σ_k (-i λ_k) e^{-iθλ_k} M_k`` used by the adjoint method, and the
parameter-shift rule: with two distinct eigenvalues ``λ_1 > λ_2`` and ``r = (λ_1 - λ_2)/2``,
``d⟨O⟩/dθ = r [⟨O⟩(θ + π/(4r)) - ⟨O⟩(θ - π/(4r))]``.

Controlled gates (CNOT, CY, CZ, CRX, CRY, CRZ, Toffoli) keep a reference to their *base* gate
on the target so that kernels only touch the amplitudes whose control bits are set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import GateError

__all__ = [
    "Gate",
    "GateError",
    "I", "X", "Y", "Z", "H", "S", "Sdg", "T", "Tdg", "SX",
    "RX", "RY", "RZ", "PhaseShift", "U3",
    "CNOT", "CY", "CZ", "SWAP", "ISWAP", "CRX", "CRY", "CRZ",
    "RXX", "RYY", "RZZ", "Toffoli",
    "unitary", "GATES", "PAULI", "embed_controlled",
]

#: Tolerance used to decide that a matrix is unitary / real / diagonal.
MATRIX_ATOL = 1e-10
#: Tolerance used to merge numerically equal generator eigenvalues.
EIGEN_ATOL = 1e-9


def embed_controlled(base: np.ndarray, n_controls: int, fill: float = 1.0) -> np.ndarray:
    """``fill · (1 - P) ⊗ 1 + P ⊗ base`` with ``P = |1…1⟩⟨1…1|`` on ``n_controls`` leading wires.

    ``base (..., d, d)`` (batched or not) becomes ``(..., D, D)``, ``D = 2**n_controls · d``: the
    last ``d × d`` block holds ``base``, the rest of the diagonal holds ``fill``.  ``fill = 1``
    gives a controlled unitary (CNOT from X), ``fill = 0`` the controlled part of a derivative
    or a generator.  The dtype of ``base`` is kept; ``n_controls = 0`` returns ``base`` itself.
    """
    if not n_controls:
        return base
    d = base.shape[-1]
    D = d << n_controls
    out = np.zeros(base.shape[:-2] + (D, D), dtype=base.dtype)
    if fill:
        idx = np.arange(D - d)
        out[..., idx, idx] = fill
    out[..., D - d:, D - d:] = base
    return out


PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def _spectral(generator: np.ndarray) -> tuple[tuple[float, ...], np.ndarray]:
    """Distinct eigenvalues of a Hermitian generator and the matching spectral projectors."""
    vals, vecs = np.linalg.eigh(generator)
    groups: list[list[int]] = []
    for idx, v in enumerate(vals):
        if groups and abs(vals[groups[-1][0]] - v) < EIGEN_ATOL:
            groups[-1].append(idx)
        else:
            groups.append([idx])
    lams = tuple(float(np.mean(vals[g])) for g in groups)
    projs = np.stack([vecs[:, g] @ vecs[:, g].conj().T for g in groups])
    return lams, projs


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=complex)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False, repr=False)
class Gate:
    """One gate type (not a placement: see :class:`qsim.circuit.Operation`).

    Attributes:
        name: short name (``"RY"``, ``"CNOT"``, ...).
        num_wires: number of wires the gate acts on (controls included).
        num_params: 0 for constant gates, 1 for generator gates, 3 for ``U3``.
        eigenvalues: the distinct eigenvalues ``λ_k`` of the generator (``(0.0,)`` for a
            constant gate).
        terms: array ``(K, d, d)`` of the ``M_k`` of the spectral form (``d = 2**num_wires``,
            or ``2**(num_wires - num_controls)`` for a controlled gate, where the terms are
            those of the base gate on the target).
        num_controls: leading wires that are controls (the gate acts as ``|1..1⟩⟨1..1| ⊗ U``).
        decomposition: for multi-parameter gates, the one-parameter gates it is a product of,
            as ``(gate, parameter index)`` in application order.
    """

    name: str
    num_wires: int
    num_params: int
    eigenvalues: tuple[float, ...]
    terms: np.ndarray
    num_controls: int = 0
    decomposition: tuple[tuple["Gate", int], ...] = field(default=())

    def __repr__(self) -> str:
        return f"Gate({self.name})"

    # ------------------------------------------------------------------ properties
    @property
    def is_parametric(self) -> bool:
        return self.num_params > 0

    @cached_property
    def generator(self) -> np.ndarray | None:
        """Hermitian ``G`` with ``U(θ) = exp(-iθG)`` on the full gate space (None if constant)."""
        if self.num_params != 1:
            return None
        base = np.einsum("k,kij->ij", np.array(self.eigenvalues), self.terms)
        return embed_controlled(base, self.num_controls, fill=0.0)

    @cached_property
    def is_real(self) -> bool:
        """True when ``U(θ)`` is real for every real θ (RY, CNOT, H, ...)."""
        if self.decomposition:
            return all(g.is_real for g, _ in self.decomposition)
        lam = np.array(self.eigenvalues)
        # U(θ) real for all θ  <=>  the spectral sum is real at a few generic angles.
        return all(
            np.allclose(np.einsum("k,kij->ij", np.exp(-1j * t * lam), self.terms).imag, 0, atol=MATRIX_ATOL)
            for t in (0.3, 1.1, 2.9)
        )

    @cached_property
    def is_diagonal(self) -> bool:
        """True when the matrix is diagonal for every θ."""
        if self.decomposition:
            return all(g.is_diagonal for g, _ in self.decomposition)
        return all(np.allclose(m - np.diag(np.diag(m)), 0, atol=MATRIX_ATOL) for m in self.terms)

    @property
    def shift_rule(self) -> tuple[float, float]:
        """``(r, s)`` of the two-term parameter-shift rule ``d/dθ = r [f(θ+s) - f(θ-s)]``.

        Raises:
            GateError: when the generator does not have exactly two distinct eigenvalues.
        """
        if self.num_params != 1:
            raise GateError(f"gate {self.name} has {self.num_params} parameters; the shift rule is per generator gate")
        lams = self.eigenvalues if not self.num_controls else tuple(sorted(set(self.eigenvalues) | {0.0}))
        if len(lams) != 2:
            raise GateError(
                f"gate {self.name}: its generator has {len(lams)} distinct eigenvalues {lams}; "
                "the two-term parameter-shift rule needs exactly two"
            )
        r = abs(lams[1] - lams[0]) / 2.0
        return r, math.pi / (4.0 * r)

    # ------------------------------------------------------------------ matrices
    def base_matrix(self, theta: float | np.ndarray = 0.0) -> np.ndarray:
        """Matrix of the base gate (the target part of a controlled gate), batched over θ."""
        if self.decomposition:
            raise GateError(f"gate {self.name} is a product; use matrix()")
        theta = np.asarray(theta, dtype=float)
        phases = np.exp(-1j * theta[..., None] * np.array(self.eigenvalues))
        return np.einsum("...k,kij->...ij", phases, self.terms)

    def base_derivative(self, theta: float | np.ndarray) -> np.ndarray:
        """``dU/dθ`` of the base gate, batched over θ."""
        theta = np.asarray(theta, dtype=float)
        lam = np.array(self.eigenvalues)
        phases = -1j * lam * np.exp(-1j * theta[..., None] * lam)
        return np.einsum("...k,kij->...ij", phases, self.terms)

    def matrix(self, *params: float) -> np.ndarray:
        """Full ``2**num_wires`` square matrix at the given (scalar) parameters."""
        if len(params) != self.num_params:
            raise GateError(f"gate {self.name} takes {self.num_params} parameters, got {len(params)}")
        if self.decomposition:
            out = np.eye(2**self.num_wires, dtype=complex)
            for gate, k in self.decomposition:
                out = gate.matrix(params[k]) @ out
            return out
        return embed_controlled(self.base_matrix(params[0] if params else 0.0), self.num_controls)

    def matrices(self, thetas: np.ndarray | None = None) -> np.ndarray:
        """Full matrices for a batch of parameter vectors ``thetas (B, num_params)`` → ``(B, d, d)``."""
        thetas = np.zeros((1, 0)) if thetas is None else np.atleast_2d(np.asarray(thetas, dtype=float))
        if thetas.shape[1] != self.num_params:
            raise GateError(f"gate {self.name} takes {self.num_params} parameters, got {thetas.shape[1]}")
        if self.decomposition:
            out = np.broadcast_to(np.eye(2**self.num_wires, dtype=complex), (len(thetas),) + (2**self.num_wires,) * 2)
            for gate, k in self.decomposition:
                out = gate.matrices(thetas[:, k:k + 1]) @ out
            return out
        t = thetas[:, 0] if self.num_params else np.zeros(len(thetas))
        return embed_controlled(self.base_matrix(t), self.num_controls)

    def derivatives(self, thetas: np.ndarray) -> list[np.ndarray]:
        """``[dU/dθ_k (B, d, d) for each parameter k]`` (analytic, product rule for ``U3``)."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        if self.decomposition:
            mats = [g.matrices(thetas[:, k:k + 1]) for g, k in self.decomposition]
            out = []
            for k in range(self.num_params):
                total = 0
                for j, (g, pk) in enumerate(self.decomposition):
                    if pk != k:
                        continue
                    term = np.eye(2**self.num_wires, dtype=complex)
                    for i, m in enumerate(mats):
                        factor = g.derivatives(thetas[:, pk:pk + 1])[0] if i == j else m
                        term = factor @ term
                    total = total + term
                out.append(total)
            return out
        if not self.num_params:
            return []
        return [embed_controlled(self.base_derivative(thetas[:, 0]), self.num_controls, fill=0.0)]


def _const(name: str, matrix, num_controls: int = 0) -> Gate:
    m = np.asarray(matrix, dtype=complex)
    nw = int(round(math.log2(m.shape[0]))) + num_controls
    return Gate(name, nw, 0, (0.0,), _frozen(m[None]), num_controls)


def _rot(name: str, generator: np.ndarray, num_controls: int = 0) -> Gate:
    lams, projs = _spectral(np.asarray(generator, dtype=complex))
    nw = int(round(math.log2(generator.shape[0]))) + num_controls
    return Gate(name, nw, 1, lams, _frozen(projs), num_controls)


_X, _Y, _Z = PAULI["X"], PAULI["Y"], PAULI["Z"]
_s2 = 1 / math.sqrt(2)

I = _const("I", np.eye(2))  # noqa: E741  (the identity gate keeps its usual name)
X = _const("X", _X)
Y = _const("Y", _Y)
Z = _const("Z", _Z)
H = _const("H", [[_s2, _s2], [_s2, -_s2]])
S = _const("S", [[1, 0], [0, 1j]])
Sdg = _const("Sdg", [[1, 0], [0, -1j]])
T = _const("T", [[1, 0], [0, np.exp(1j * math.pi / 4)]])
Tdg = _const("Tdg", [[1, 0], [0, np.exp(-1j * math.pi / 4)]])
SX = _const("SX", 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]))

RX = _rot("RX", _X / 2)
RY = _rot("RY", _Y / 2)
RZ = _rot("RZ", _Z / 2)
#: ``PhaseShift(φ) = diag(1, e^{iφ}) = exp(-iφ G)`` with ``G = -|1⟩⟨1|``.
PhaseShift = _rot("PhaseShift", np.diag([0.0, -1.0]).astype(complex))
#: ``U3(θ, φ, λ) = PhaseShift(φ) · RY(θ) · PhaseShift(λ)``
#: ``= [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]]``.
U3 = Gate("U3", 1, 3, (), _frozen(np.zeros((0, 2, 2))), 0, ((PhaseShift, 2), (RY, 0), (PhaseShift, 1)))

CNOT = _const("CNOT", _X, num_controls=1)
CY = _const("CY", _Y, num_controls=1)
CZ = _const("CZ", _Z, num_controls=1)
CRX = _rot("CRX", _X / 2, num_controls=1)
CRY = _rot("CRY", _Y / 2, num_controls=1)
CRZ = _rot("CRZ", _Z / 2, num_controls=1)
Toffoli = _const("Toffoli", _X, num_controls=2)
SWAP = _const("SWAP", [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
ISWAP = _const("iSWAP", [[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])
RXX = _rot("RXX", np.kron(_X, _X) / 2)
RYY = _rot("RYY", np.kron(_Y, _Y) / 2)
RZZ = _rot("RZZ", np.kron(_Z, _Z) / 2)

#: Every built-in gate by name.
GATES: dict[str, Gate] = {
    g.name: g
    for g in (I, X, Y, Z, H, S, Sdg, T, Tdg, SX, RX, RY, RZ, PhaseShift, U3, CNOT, CY, CZ,
              CRX, CRY, CRZ, Toffoli, SWAP, ISWAP, RXX, RYY, RZZ)
}


def unitary(matrix, name: str = "U", *, atol: float = 1e-8) -> Gate:
    """A constant user gate on 1-3 wires from its matrix (checked to be unitary).

    Raises:
        GateError: when the matrix is not square of size 2, 4 or 8, not finite, or not unitary
            (the message gives ``max |U†U - 1|``).
    """
    m = np.asarray(matrix, dtype=complex)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] not in (2, 4, 8):
        raise GateError(f"user gate {name!r}: matrix shape {m.shape} is not (2,2), (4,4) or (8,8)")
    if not np.all(np.isfinite(m)):
        raise GateError(f"user gate {name!r}: matrix has non-finite entries")
    dev = float(np.max(np.abs(m.conj().T @ m - np.eye(m.shape[0]))))
    if dev > atol:
        raise GateError(f"user gate {name!r}: matrix is not unitary (max |U†U - 1| = {dev:.3g} > {atol:g})")
    return _const(name, m)
