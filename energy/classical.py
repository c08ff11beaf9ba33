r"""The best classical alternative to a full statevector: light cone and a matrix-product-state bound.

A state-vector cross-over only means something if nothing cheaper computes the same answer.  For
the head's output ``<Z_0>`` two exact shortcuts are bounded here from the gate list alone:

**Light cone.**  Walking the circuit backwards from the measured qubit, a gate joins the cone when
it touches a wire already in it: ``C <- C \cup wires(g)``.  Only the ``|C|`` wires of the cone
matter for ``<Z_0>``; a statevector of ``|C|`` qubits gives the exact value.

**MPS bond bound.**  Order the qubits on a line ``0..n-1``.  An exact MPS needs at cut ``i`` (between
qubits ``i-1`` and ``i``) a bond dimension at most

.. math::  \chi_i \le \min\left(2^{\min(i, n-i)},\ 2^{g_i}\right),

with ``g_i`` the two-qubit gates whose wires straddle the cut (each can at most double the Schmidt
rank).  With ``chi = max_i chi_i``, applying one two-qubit gate costs about one SVD of a
``2 chi x 2 chi`` matrix, :data:`SVD_FLOP_FACTOR` ``(2 chi)^3`` floating-point operations, so
the whole circuit costs at most

.. math::  F_{MPS} = G \cdot c_{SVD} (2\chi)^3 ,\qquad
           E_{MPS} = \frac{F_{MPS}}{R_{core}}\,P_{core},

on one core of :data:`CORE_FLOPS` at :data:`CORE_POWER_W` (a bound on the exact MPS cost; the
measured Aer MPS time for the paper head C=1 is 0.02 s at n = 46, issue 14).  A circuit is *easy
classically* when ``E_MPS`` or the light-cone statevector is below the QPU's energy: the
state-vector cross-over is then meaningless and the CLI says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from energy.circuits import CircuitSpec

__all__ = ["CORE_FLOPS", "CORE_POWER_W", "ClassicalBound", "SVD_FLOP_FACTOR", "classical_bound", "light_cone"]

#: Sustained double-precision rate of one modern server core on dense linear algebra (AVX2 FMA:
#: 16 FLOP/cycle at ~2.5 GHz = 40 GFLOP/s peak; a quarter of it for SVDs of small matrices) [A].
CORE_FLOPS = 1.0e10
#: Power of one loaded core including its DRAM share: 5-10 W (anchors §5.4 table) [A].
CORE_POWER_W = 10.0
#: FLOPs of a dense SVD of an ``m x m`` matrix ~ ``c m^3`` with ``c`` about 10 (Golub & Van Loan,
#: Matrix Computations, 4th ed., §8.6: ~``4m^3 + 8m^3`` for U, S, V) [P].
SVD_FLOP_FACTOR = 12.0


def light_cone(spec: CircuitSpec, measured: int = 0) -> int | None:
    """Wires in the backward light cone of ``measured`` (``None`` without a gate list)."""
    if spec.gates is None:
        return None
    cone = {measured}
    for wires in reversed(spec.gates):
        if cone.intersection(wires):
            cone.update(wires)
    return len(cone)


@dataclass(frozen=True)
class ClassicalBound:
    """Light cone and MPS bound of one circuit (``None`` fields: no gate list)."""

    n_qubits: int
    light_cone: int | None
    bond_dimension: float | None
    mps_flops: float | None
    mps_energy_j: float | None
    mps_time_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def classical_bound(spec: CircuitSpec) -> ClassicalBound:
    """Light cone of qubit 0 and the MPS cost bound (module docstring)."""
    n = spec.n_qubits
    if spec.gates is None:
        return ClassicalBound(n, None, None, None, None, None)
    crossings = [0] * (n + 1)
    for wires in spec.gates:
        if len(wires) >= 2:
            low, high = min(wires), max(wires)
            for cut in range(low + 1, high + 1):
                crossings[cut] += 1
    chi = max((min(2.0 ** min(i, n - i), 2.0 ** crossings[i]) for i in range(1, n)), default=1.0)
    flops = len(spec.gates) * SVD_FLOP_FACTOR * (2.0 * chi) ** 3
    time_s = flops / CORE_FLOPS
    return ClassicalBound(n, light_cone(spec), chi, flops, time_s * CORE_POWER_W, time_s)
