"""PennyLane: ``lightning.qubit`` (C++ kernels, adjoint gradients) and ``default.qubit``.

PennyLane is big-endian like qsim (wire 0 is the most significant bit), and ``qml.RY(θ)`` is
``exp(-iθY/2)``.  W1 returns ``qml.state()``; W2 passes the whole batch of inputs at once
(parameter broadcasting: native on default.qubit, split into one tape per sample by
lightning); W3 differentiates ``⟨Σ_q Z_q⟩`` with ``diff_method="adjoint"`` on lightning and
``"backprop"`` on default.qubit, through ``qml.grad``.  W4 runs on ``default.mixed`` with
``qml.DepolarizingChannel(p)`` (adapter ``pennylane-mixed``).
"""

from __future__ import annotations

import numpy as np


from ..workloads import W4_P1, W4_P2, Problem, angle_value
from .base import DOUBLE, SINGLE, Adapter, AdapterError, Prepared, check_gates

__all__ = ["PennyLane"]

_GATES = {"RX", "RY", "RZ", "CNOT"}


class PennyLane(Adapter):
    memory_factor = 4.0

    def __init__(self, device: str = "lightning.qubit") -> None:
        self.device_name = device
        if device == "lightning.qubit":
            self.name = "pennylane-lightning"
            self.modules = ("pennylane", "pennylane_lightning")
            self.distributions = ("pennylane-lightning", "pennylane")
            self.precisions = (DOUBLE, SINGLE)
        elif device in ("default.qubit", "default.mixed"):
            self.name = "pennylane-default" if device == "default.qubit" else "pennylane-mixed"
            self.modules = ("pennylane",)
            self.distributions = ("pennylane",)
            self.precisions = (DOUBLE,)
        else:
            raise ValueError(f"unsupported PennyLane device {device!r}")
        self.workloads = frozenset({"W4"} if device == "default.mixed" else {"W1", "W2", "W3"})

    def _device(self, n: int, dtype: str):
        import pennylane as qml

        if self.device_name == "lightning.qubit":
            return qml.device("lightning.qubit", wires=n, c_dtype=np.dtype(dtype).type)
        return qml.device(self.device_name, wires=n)

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        import pennylane as qml

        check_gates(problem, _GATES, self.name)
        n = problem.n_qubits
        dev = self._device(n, dtype)
        ops = problem.circuit.ops

        def apply(angle):
            for o in ops:
                if o.gate.name == "CNOT":
                    qml.CNOT(wires=list(o.wires))
                else:
                    getattr(qml, o.gate.name)(angle(o.params[0]), wires=o.wires[0])

        w = problem.weights
        if problem.workload == "W1":
            @qml.qnode(dev)
            def circuit():
                apply(lambda p: angle_value(p, w))
                return qml.state()

            return Prepared(circuit, lambda st: {"state": np.asarray(st)}, self.device_name)
        if problem.workload == "W2":
            x = problem.inputs

            @qml.qnode(dev)
            def circuit(xb):
                apply(lambda p: p.angle(w, xb))          # (B,) per input reference: broadcast
                return [qml.expval(qml.Z(q)) for q in range(n)]

            return Prepared(lambda: circuit(x), lambda ev: {"expval": np.stack([np.asarray(e) for e in ev], axis=1)},
                            self.device_name + " broadcast")
        if problem.workload == "W3":
            from pennylane import numpy as pnp

            method = "adjoint" if self.device_name == "lightning.qubit" else "backprop"
            total = qml.sum(*[qml.Z(q) for q in range(n)])

            @qml.qnode(dev, diff_method=method)
            def circuit(weights):
                apply(lambda p: p.angle(weights))       # trainable weights traced by autograd
                return qml.expval(total)

            grad = qml.grad(circuit)
            wt = pnp.array(w, requires_grad=True)
            return Prepared(lambda: grad(wt), lambda g: {"grad": np.asarray(g, dtype=float)},
                            f"{self.device_name} {method}")
        if problem.workload == "W4":
            @qml.qnode(dev)
            def circuit():
                for o in ops:
                    if o.gate.name == "CNOT":
                        qml.CNOT(wires=list(o.wires))
                    else:
                        getattr(qml, o.gate.name)(angle_value(o.params[0], w), wires=o.wires[0])
                    for q in o.wires:
                        qml.DepolarizingChannel(W4_P2 if o.gate.name == "CNOT" else W4_P1, wires=q)
                return [qml.expval(qml.Z(q)) for q in range(n)]

            return Prepared(circuit, lambda ev: {"expval": np.array([[float(e) for e in ev]])}, "default.mixed")
        raise AdapterError(f"{self.name} does not implement {problem.workload}")
