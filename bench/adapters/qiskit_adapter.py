"""Qiskit Aer: ``AerSimulator(method="statevector")`` for W1, ``EstimatorV2`` for W2.

Qiskit is little-endian (qubit ``k`` is bit ``k``), so our wire ``q`` is placed on Qiskit qubit
``n-1-q`` and the state comes out in our order; ``ry/rz/rx`` are ``exp(-iθP/2)``.  W2 runs the
whole batch as one estimator pub (parameter values ``(B, n)``, exact expectation values with
``default_precision=0``).  W4: ``method="density_matrix"`` with ``depolarizing_error(4p/3)``
(Qiskit's parameter λ = 4p/3 gives the Pauli form ``(1-p)ρ + p/3 (XρX + YρY + ZρZ)``) and
``save_expectation_value`` per qubit.
"""

from __future__ import annotations

import numpy as np

from qsim import Input

from ..workloads import W4_P1, W4_P2, Problem, angle_value
from .base import DOUBLE, SINGLE, Adapter, AdapterError, Prepared, check_gates, precision_of

__all__ = ["QiskitAer"]

_GATES = {"RX", "RY", "RZ", "CNOT"}


class QiskitAer(Adapter):
    name = "qiskit-aer"
    modules = ("qiskit", "qiskit_aer")
    distributions = ("qiskit-aer", "qiskit")
    workloads = frozenset({"W1", "W2", "W4"})
    precisions = (DOUBLE, SINGLE)
    memory_factor = 3.0

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        from qiskit import QuantumCircuit
        from qiskit.circuit import ParameterVector

        check_gates(problem, _GATES, self.name)
        n = problem.n_qubits
        wire = lambda q: n - 1 - q  # noqa: E731
        options = {"method": "statevector", "precision": precision_of(dtype), "max_parallel_threads": threads}
        qc = QuantumCircuit(n)
        xs = ParameterVector("x", problem.circuit.n_inputs) if problem.circuit.n_inputs else None
        for o in problem.circuit.ops:
            name = o.gate.name
            if name == "CNOT":
                qc.cx(wire(o.wires[0]), wire(o.wires[1]))
                continue
            p = o.params[0]
            angle = p.scale * xs[p.index] + p.offset if isinstance(p, Input) else angle_value(p, problem.weights)
            getattr(qc, name.lower())(angle, wire(o.wires[0]))
        if problem.workload == "W1":
            from qiskit import transpile
            from qiskit_aer import AerSimulator

            sim = AerSimulator(**options)
            qc.save_statevector()
            tqc = transpile(qc, sim)
            return Prepared(lambda: sim.run(tqc).result(),
                            lambda r: {"state": np.asarray(r.get_statevector(tqc))}, "AerSimulator statevector")
        if problem.workload == "W2":
            from qiskit.quantum_info import SparsePauliOp
            from qiskit_aer.primitives import EstimatorV2

            est = EstimatorV2(options={"backend_options": options, "default_precision": 0.0})
            obs = [[SparsePauliOp("I" * q + "Z" + "I" * (n - 1 - q))] for q in range(n)]
            pub = (qc, obs, problem.inputs)
            return Prepared(lambda: est.run([pub]).result(), lambda r: {"expval": np.asarray(r[0].data.evs).T},
                            "EstimatorV2 statevector")
        if problem.workload == "W4":
            from qiskit.quantum_info import Pauli
            from qiskit_aer import AerSimulator
            from qiskit_aer.noise import NoiseModel, depolarizing_error

            noise = NoiseModel()
            noise.add_all_qubit_quantum_error(depolarizing_error(4 * W4_P1 / 3, 1), ["rx", "ry", "rz"])
            e2 = depolarizing_error(4 * W4_P2 / 3, 1)
            noise.add_all_qubit_quantum_error(e2.tensor(e2), ["cx"])
            for q in range(n):
                qc.save_expectation_value(Pauli("Z"), [wire(q)], label=f"z{q}")
            sim = AerSimulator(**dict(options, method="density_matrix"), noise_model=noise)

            def result(r):
                data = r.data()
                return {"expval": np.array([[data[f"z{q}"] for q in range(n)]])}

            return Prepared(lambda: sim.run(qc).result(), result, "AerSimulator density_matrix")
        raise AdapterError(f"{self.name} does not implement {problem.workload}")
