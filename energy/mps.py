r"""The best-classical cost *measured*: Qiskit Aer's matrix-product-state method on this machine.

:mod:`energy.classical` bounds the cost of an exact MPS simulation from the gate list.  Where
``qiskit-aer`` is importable (the ``peers`` extra), :func:`measure_mps` runs the circuit itself
with ``AerSimulator(method="matrix_product_state")`` on one thread, exact (no bond truncation),
and times ``<Z_0>``: the median wall time of :data:`MPS_REPEATS` runs after one warm-up.  The
energy is that time at one loaded core, :data:`energy.classical.CORE_POWER_W`.

The circuit is the family's gate list with 1-wire gates as ``RY`` (angles fixed, seeded), 2-wire
as ``CX``, 3-wire as ``CCX``: the entanglement structure, which sets the MPS cost, is the head's.
A circuit whose bond-dimension bound exceeds :data:`MAX_MEASURED_BOND` is not run: an exact MPS of
that size can take hours (issue 14: connectivity 2 at n = 20 took 716 s), and the bound already
says it is not easy.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from energy.circuits import CircuitSpec
from energy.classical import CORE_POWER_W, classical_bound

__all__ = ["MAX_MEASURED_BOND", "MPS_REPEATS", "MPSMeasurement", "aer_available", "measure_mps"]

log = logging.getLogger(__name__)

#: Timed runs after the warm-up (the median is reported).
MPS_REPEATS = 3
#: Largest bond-dimension bound a circuit may have to be measured (2 chi = 512: one SVD ~ 1.6 GFLOP).
MAX_MEASURED_BOND = 256
#: Seed of the fixed RY angles.
ANGLE_SEED = 14


@dataclass(frozen=True)
class MPSMeasurement:
    """One measured exact MPS simulation of ``<Z_0>``.

    Attributes:
        n_qubits: register size.
        time_s: median wall time of one run (s).
        energy_j: ``time_s`` at one loaded core (J).
        expectation: the ``<Z_0>`` it returned.
        repeats: timed runs.
        simulator: what ran it.
    """

    n_qubits: int
    time_s: float
    energy_j: float
    expectation: float
    repeats: int
    simulator: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def aer_available() -> str:
    """``""`` when Qiskit Aer can be imported, else why not (one line)."""
    try:
        import qiskit_aer  # noqa: F401
    except ImportError as exc:
        return f"qiskit-aer is not installed ({exc.name}; pip install -e '.[peers]')"
    return ""


def _qiskit_circuit(spec: CircuitSpec) -> Any:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    angles = np.random.default_rng(ANGLE_SEED).uniform(0.0, np.pi, len(spec.gates or ()))
    qc = QuantumCircuit(spec.n_qubits)
    for angle, wires in zip(angles, spec.gates or ()):
        if len(wires) == 1:
            qc.ry(float(angle), wires[0])
        elif len(wires) == 2:
            qc.cx(*wires)
        else:
            qc.ccx(*wires)
    z0 = SparsePauliOp.from_sparse_list([("Z", [0], 1.0)], num_qubits=spec.n_qubits)
    qc.save_expectation_value(z0, list(range(spec.n_qubits)))
    return qc


def measure_mps(spec: CircuitSpec, repeats: int = MPS_REPEATS) -> tuple[MPSMeasurement | None, str]:
    """Time an exact Aer MPS simulation of ``spec``; ``(measurement, "")`` or ``(None, why not)``."""
    if repeats < 1:
        raise ValueError(f"repeats = {repeats}: must be >= 1")
    why = aer_available()
    if why:
        return None, why
    if spec.gates is None or any(len(w) > 3 for w in spec.gates):
        return None, "no gate list of 1-3 wire gates for this circuit"
    bound = classical_bound(spec).bond_dimension or 1.0
    if bound > MAX_MEASURED_BOND:
        return None, f"bond-dimension bound {bound:g} > {MAX_MEASURED_BOND}: an exact MPS run could take hours"
    from qiskit_aer import AerSimulator

    simulator = AerSimulator(method="matrix_product_state", max_parallel_threads=1)
    circuit = _qiskit_circuit(spec)

    def run() -> float:
        result = simulator.run(circuit, shots=1).result()
        if not result.success:
            raise RuntimeError(f"Aer MPS run failed: {result.status}")
        return float(np.real(result.data()["expectation_value"]))

    run()  # warm-up
    times, value = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    log.info("Aer MPS n=%d: %.3g s (median of %d)", spec.n_qubits, median, repeats)
    return MPSMeasurement(spec.n_qubits, median, median * CORE_POWER_W, value, repeats,
                          "qiskit-aer matrix_product_state, 1 thread"), ""
