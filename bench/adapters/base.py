"""The adapter interface: how a simulator runs one benchmark point.

An adapter is cheap to construct and imports its simulator only in :meth:`Adapter.prepare`
(which runs inside the point's subprocess, after the thread settings are fixed), so the parent
process can ask every adapter what it supports without importing any peer.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from qsim.precision import DOUBLE, PRECISIONS, SINGLE, precision_name

from ..workloads import Problem

__all__ = ["Adapter", "Prepared", "AdapterError", "AdapterUnavailable", "check_gates", "module_available",
           "package_version",
           "DOUBLE", "SINGLE", "PRECISION_DTYPES", "precision_of"]

#: Complex (and real fast path) amplitude dtype of each precision (from :data:`qsim.precision.PRECISIONS`).
PRECISION_DTYPES = {name: (np.dtype(p.complex).name, np.dtype(p.real).name) for name, p in PRECISIONS.items()}


def precision_of(dtype: str) -> str:
    """The precision (``DOUBLE``/``SINGLE``) of an amplitude dtype name (:func:`qsim.precision.precision_name`)."""
    return precision_name(dtype)


class AdapterError(RuntimeError):
    """An adapter cannot run a point (unsupported gate, missing feature): the row fails."""


class AdapterUnavailable(AdapterError):
    """The simulator turned out to be unavailable inside the worker: the row is skipped."""


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class Prepared:
    """A point ready to be timed.

    ``run()`` is what is timed (it returns the simulator's raw result); ``result(raw)`` turns a
    raw result into the canonical output dict (untimed); ``reference()``, when given, computes an
    independent expected output for this point, already in fingerprint form (see
    :func:`bench.agreement.fingerprint`), which then replaces the run's stored reference.
    """

    run: Callable[[], Any]
    result: Callable[[Any], dict[str, np.ndarray]]
    backend: str
    n_passes: int | None = None
    reference: Callable[[], dict[str, np.ndarray]] | None = None
    #: amplitude-weighted state sweeps (a controlled pass touches 2**-c of the state); the
    #: effective bandwidth uses it when given, else ``n_passes``
    sweeps: float | None = None


class Adapter:
    """Base class: subclasses set the class attributes and implement :meth:`prepare`."""

    #: Simulator label in the records (``qhybrid-numba``, ``qulacs``, ...).
    name: str = ""
    #: ``"ours"`` or ``"peer"``.
    kind: str = "peer"
    #: Import names that must be present.
    modules: tuple[str, ...] = ()
    #: Distribution names whose versions are recorded.
    distributions: tuple[str, ...] = ()
    #: Workloads it implements.
    workloads: frozenset[str] = frozenset()
    #: Precisions it implements.
    precisions: tuple[str, ...] = (DOUBLE,)
    device: str = "cpu"
    #: Peak memory as a multiple of one state (all samples): used to skip sizes that cannot fit.
    memory_factor: float = 3.0
    #: Largest register it is run on whatever the budget ("small n only" simulators).
    max_qubits: int | None = None

    def unavailable_reason(self) -> str | None:
        """None when the simulator can run here, else why not."""
        missing = [m for m in self.modules if not module_available(m)]
        return f"{missing[0]} not installed" if missing else None

    def dtypes(self, workload: str, precision: str, problem: Problem | None = None) -> tuple[str, ...]:
        """Amplitude dtypes run for ``precision`` (empty when unsupported)."""
        if workload not in self.workloads or precision not in self.precisions:
            return ()
        if workload == "W4" and precision != DOUBLE:     # qsim.noise runs in double: compare like with like
            return ()
        return (PRECISION_DTYPES[precision][0],)

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def check_gates(problem: Problem, supported: set[str], adapter: str) -> None:
    for o in problem.circuit.ops:
        if o.gate.name not in supported:
            raise AdapterError(f"{adapter} adapter does not translate gate {o.gate.name}")
