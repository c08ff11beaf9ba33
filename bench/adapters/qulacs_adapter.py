"""Qulacs (``QuantumState`` + ``QuantumCircuit``; ``ParametricQuantumCircuit`` for W2 and W3).

Conventions: qulacs's qubit ``k`` is bit ``k`` of the index (little-endian), so our wire ``q``
is placed on qulacs qubit ``n-1-q`` and the state vector comes out in our order.  Fixed
rotations use ``RotX/RotY/RotZ`` (``exp(-iθP/2)``, like ours); qulacs's ``RX/RY/RZ`` and the
parametric gates are ``exp(+iθP/2)``, so parametric angles are stored negated.  W3 uses
``ParametricQuantumCircuit.backprop``; W4 a ``DensityMatrix`` with ``DepolarizingNoise`` gates
(X, Y, Z each with probability ``p/3``).
"""

from __future__ import annotations

import numpy as np

from qsim import Input, Weight

from ..workloads import W4_P1, W4_P2, Problem, angle_value
from .base import DOUBLE, Adapter, AdapterError, Prepared, check_gates

__all__ = ["Qulacs"]

_GATES = {"RX", "RY", "RZ", "CNOT"}


class Qulacs(Adapter):
    name = "qulacs"
    modules = ("qulacs",)
    distributions = ("qulacs",)
    workloads = frozenset({"W1", "W2", "W3", "W4"})
    precisions = (DOUBLE,)
    memory_factor = 2.0

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        import qulacs

        check_gates(problem, _GATES, self.name)
        n = problem.n_qubits
        wire = lambda q: n - 1 - q  # noqa: E731
        if problem.workload == "W1":
            circ = qulacs.QuantumCircuit(n)
            self._add_ops(circ, problem, wire, parametric=None)
            state = qulacs.QuantumState(n)

            def run():
                state.set_zero_state()
                circ.update_quantum_state(state)
                return state

            return Prepared(run, lambda st: {"state": st.get_vector()}, "QuantumCircuit")

        observables = []
        for q in range(n):
            o = qulacs.Observable(n)
            o.add_operator(1.0, f"Z {wire(q)}")
            observables.append(o)
        if problem.workload == "W2":
            circ = qulacs.ParametricQuantumCircuit(n)
            slots = self._add_ops(circ, problem, wire, parametric=Input)
            state = qulacs.QuantumState(n)
            x = problem.inputs

            def run():
                out = np.empty((problem.batch, n))
                for b in range(problem.batch):
                    for k, p in slots:
                        circ.set_parameter(k, -(p.scale * x[b, p.index] + p.offset))
                    state.set_zero_state()
                    circ.update_quantum_state(state)
                    for q, o in enumerate(observables):
                        out[b, q] = o.get_expectation_value(state)
                return out

            return Prepared(run, lambda ev: {"expval": ev}, "ParametricQuantumCircuit")
        if problem.workload == "W3":
            circ = qulacs.ParametricQuantumCircuit(n)
            slots = self._add_ops(circ, problem, wire, parametric=Weight)
            total = qulacs.Observable(n)
            for q in range(n):
                total.add_operator(1.0, f"Z {wire(q)}")
            P = problem.circuit.n_weights

            def result(g):
                grad = np.zeros(P)
                for (k, p), gk in zip(slots, g):
                    grad[p.index] -= p.scale * gk      # parameters are stored negated
                return {"grad": grad}

            return Prepared(lambda: circ.backprop(total), result, "backprop")
        if problem.workload == "W4":
            from qulacs.gate import DepolarizingNoise

            circ = qulacs.QuantumCircuit(n)
            for o in problem.circuit.ops:
                ws = [wire(q) for q in o.wires]
                if o.gate.name == "CNOT":
                    circ.add_CNOT_gate(ws[0], ws[1])
                    for q in ws:
                        circ.add_gate(DepolarizingNoise(q, W4_P2))
                else:
                    getattr(circ, f"add_Rot{o.gate.name[1]}_gate")(ws[0], angle_value(o.params[0], problem.weights))
                    circ.add_gate(DepolarizingNoise(ws[0], W4_P1))
            rho = qulacs.DensityMatrix(n)

            def run4():
                rho.set_zero_state()
                circ.update_quantum_state(rho)
                return np.array([[o.get_expectation_value(rho).real for o in observables]])

            return Prepared(run4, lambda ev: {"expval": ev}, "DensityMatrix")
        raise AdapterError(f"{self.name} does not implement {problem.workload}")

    @staticmethod
    def _add_ops(circ, problem: Problem, wire, parametric):
        """Append the problem's gates; angles of ``parametric`` references become parameters."""
        slots = []
        for o in problem.circuit.ops:
            name = o.gate.name
            if name == "CNOT":
                circ.add_CNOT_gate(wire(o.wires[0]), wire(o.wires[1]))
                continue
            p = o.params[0]
            if parametric is not None and isinstance(p, parametric):
                k = circ.get_parameter_count()
                value = 0.0 if isinstance(p, Input) else angle_value(p, problem.weights)
                getattr(circ, f"add_parametric_{name}_gate")(wire(o.wires[0]), -value)
                slots.append((k, p))
            else:
                getattr(circ, f"add_Rot{name[1]}_gate")(wire(o.wires[0]), angle_value(p, problem.weights))
        return slots
