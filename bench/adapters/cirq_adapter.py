"""Cirq's ``cirq.Simulator`` and Google's qsim through ``qsimcirq`` (complex64 only).

Cirq orders ``LineQubit.range(n)`` big-endian like qsim, and ``cirq.ry(θ)`` is
``exp(-iθY/2)``.  W1 returns ``simulate(...).final_state_vector``; W2 uses
``simulate_expectation_values_sweep`` with one resolver per sample; W4 (cirq only) uses
``DensityMatrixSimulator`` with ``cirq.depolarize(p)`` channels.
"""

from __future__ import annotations

import numpy as np

from qsim import Input

from ..workloads import W4_P1, W4_P2, Problem, angle_value
from .base import DOUBLE, SINGLE, Adapter, AdapterError, Prepared, check_gates

__all__ = ["Cirq"]

_GATES = {"RX", "RY", "RZ", "CNOT"}


class Cirq(Adapter):
    workloads = frozenset({"W1", "W2"})

    def __init__(self, engine: str = "cirq") -> None:
        self.engine = engine
        if engine == "cirq":
            self.name = "cirq"
            self.modules = ("cirq",)
            self.distributions = ("cirq-core",)
            self.precisions = (DOUBLE, SINGLE)
            self.memory_factor = 4.0
            self.workloads = frozenset({"W1", "W2", "W4"})
        elif engine == "qsimcirq":
            self.name = "qsimcirq"
            self.modules = ("qsimcirq", "cirq")
            self.distributions = ("qsimcirq", "cirq-core")
            self.precisions = (SINGLE,)
            self.memory_factor = 3.0
        else:
            raise ValueError(f"unknown cirq engine {engine!r}")

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        import cirq
        import sympy

        check_gates(problem, _GATES, self.name)
        n = problem.n_qubits
        qubits = cirq.LineQubit.range(n)
        xs = [sympy.Symbol(f"x{i}") for i in range(problem.circuit.n_inputs)]
        ops = []
        for o in problem.circuit.ops:
            name = o.gate.name
            if name == "CNOT":
                ops.append(cirq.CNOT(qubits[o.wires[0]], qubits[o.wires[1]]))
                continue
            p = o.params[0]
            angle = p.scale * xs[p.index] + p.offset if isinstance(p, Input) else angle_value(p, problem.weights)
            ops.append(getattr(cirq, name.lower())(angle).on(qubits[o.wires[0]]))
        if problem.workload == "W4":
            noisy = []
            for o, op in zip(problem.circuit.ops, ops):
                noisy.append(op)
                p_dep = W4_P2 if o.gate.name == "CNOT" else W4_P1
                noisy += [cirq.depolarize(p_dep).on(qubits[q]) for q in o.wires]
            sim = cirq.DensityMatrixSimulator(dtype=np.dtype(dtype).type)
            zs = [cirq.Z(q) for q in qubits]
            dm_circuit = cirq.Circuit(noisy)
            return Prepared(lambda: sim.simulate_expectation_values(dm_circuit, zs, qubit_order=qubits),
                            lambda r: {"expval": np.real(np.asarray(r))[None, :]}, "DensityMatrixSimulator")
        circuit = cirq.Circuit(ops)
        if self.engine == "qsimcirq":
            import qsimcirq

            sim = qsimcirq.QSimSimulator(qsim_options=qsimcirq.QSimOptions(cpu_threads=threads))
            backend = "QSimSimulator"
        else:
            sim = cirq.Simulator(dtype=np.dtype(dtype).type)
            backend = "cirq.Simulator"
        if problem.workload == "W1":
            return Prepared(lambda: sim.simulate(circuit, qubit_order=qubits),
                            lambda r: {"state": np.asarray(r.final_state_vector)}, backend)
        if problem.workload == "W2":
            observables = [cirq.Z(q) for q in qubits]
            x = problem.inputs
            sweep = [cirq.ParamResolver({s: float(v) for s, v in zip(xs, row)}) for row in x]
            return Prepared(
                lambda: sim.simulate_expectation_values_sweep(circuit, observables, sweep, qubit_order=qubits),
                lambda r: {"expval": np.real(np.asarray(r))}, backend + " sweep")
        raise AdapterError(f"{self.name} does not implement {problem.workload}")
