"""Simulator adapters: ours (qsim backends) and the peers, each behind the same interface.

:func:`get_adapter` builds an adapter by simulator name; :data:`BACKENDS` and :data:`PEERS`
list the names the CLI accepts (``--backends`` / ``--peers``), :data:`PEER_ALIASES` a few
spellings users type.  Adapters import their simulator only when preparing a point.
"""

from __future__ import annotations

from qsim.backends import NAMES as _QSIM_BACKENDS

from .base import (
    DOUBLE, PRECISION_DTYPES, SINGLE, Adapter, AdapterError, AdapterUnavailable, Prepared, precision_of,
)
from .cirq_adapter import Cirq
from .head import HEAD_ADAPTERS, Head
from .pennylane_adapter import PennyLane
from .qhybrid import QHybrid
from .qiskit_adapter import QiskitAer
from .qulacs_adapter import Qulacs

__all__ = [
    "Adapter", "AdapterError", "AdapterUnavailable", "Prepared", "DOUBLE", "SINGLE", "PRECISION_DTYPES",
    "precision_of", "BACKENDS", "PEERS", "PEER_ALIASES", "get_adapter", "adapters_for", "all_simulators",
]

#: Our backends (``--backends``): qsim's registry (:data:`qsim.backends.NAMES`).
BACKENDS = _QSIM_BACKENDS
#: Peer simulators (``--peers``), in table order.
PEERS = ("qulacs", "pennylane-lightning", "pennylane-default", "pennylane-mixed", "qiskit-aer", "qsimcirq", "cirq",
         "torch-statevector")
PEER_ALIASES = {"lightning": "pennylane-lightning", "lightning.qubit": "pennylane-lightning",
                "default.qubit": "pennylane-default", "default": "pennylane-default", "aer": "qiskit-aer",
                "default.mixed": "pennylane-mixed",
                "qiskit": "qiskit-aer", "qsim": "qsimcirq", "torch": "torch-statevector"}

_FACTORIES = {
    "qhybrid-numba": lambda: QHybrid("numba"),
    "qhybrid-numpy": lambda: QHybrid("numpy"),
    "qhybrid-cupy": lambda: QHybrid("cupy"),
    "qhybrid-numba-forward": lambda: QHybrid("numba", mode="forward"),
    "qhybrid-cupy-forward": lambda: QHybrid("cupy", mode="forward"),
    "qulacs": Qulacs,
    "pennylane-lightning": lambda: PennyLane("lightning.qubit"),
    "pennylane-default": lambda: PennyLane("default.qubit"),
    "pennylane-mixed": lambda: PennyLane("default.mixed"),
    "qiskit-aer": QiskitAer,
    "qsimcirq": lambda: Cirq("qsimcirq"),
    "cirq": lambda: Cirq("cirq"),
}


def get_adapter(simulator: str, workload: str | None = None) -> Adapter:
    """The adapter that runs ``simulator`` (HEAD rows use the ``bench.hybrid_step`` wrappers)."""
    if workload == "HEAD":
        return Head(simulator)
    try:
        return _FACTORIES[simulator]()
    except KeyError:
        raise KeyError(f"unknown simulator {simulator!r}; choose from {', '.join(_FACTORIES)}") from None


def adapters_for(workload: str, backends: tuple[str, ...], peers: tuple[str, ...]) -> list[Adapter]:
    """Adapters of ``workload``: ours for ``backends`` (numba first: it is the reference), then ``peers``."""
    if workload == "HEAD":
        return [Head("qhybrid")] + [Head(p) for p in peers if p in HEAD_ADAPTERS and p != "qhybrid"]
    out: list[Adapter] = []
    for b in ("numba",) + tuple(x for x in backends if x != "numba"):
        a = QHybrid(b)
        if workload in a.workloads:
            out.append(a)
        if workload == "W3" and b != "numpy":
            out.append(QHybrid(b, mode="forward"))
    for p in peers:
        if p in _FACTORIES:
            a = get_adapter(p)
            if workload in a.workloads:
                out.append(a)
    return out


def all_simulators() -> list[str]:
    return list(_FACTORIES) + [h for h in HEAD_ADAPTERS if h not in _FACTORIES]
