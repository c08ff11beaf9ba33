"""HEAD: one training step of the hybrid head, through ``bench.hybrid_step``.

``bench.hybrid_step`` (written with the hybrid package) exposes ``ADAPTERS``, a dict mapping
``"qhybrid"``, ``"pennylane-lightning"`` and ``"torch-statevector"`` to
``make_step(n_qubits, batch, seed) -> step``, where ``step()`` runs one training step and returns
the loss, and ``available(name) -> bool``.  It is imported lazily, inside the worker; when it is
missing or an implementation is unavailable the rows are skipped with the reason.

Agreement: the loss returned by the first step of a fresh ``make_step(n, batch, seed)`` (the
loss at initialisation) must match qhybrid's within :data:`bench.agreement.HEAD_LOSS_TOL`, so
all implementations must build the same model and data from the same seed.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np

from ..workloads import Problem
from .base import DOUBLE, Adapter, AdapterUnavailable, Prepared, module_available

__all__ = ["Head", "HEAD_ADAPTERS", "HEAD_MODULE", "HEAD_DTYPE"]

HEAD_MODULE = "bench.hybrid_step"
HEAD_ADAPTERS = ("qhybrid", "pennylane-lightning", "torch-statevector")
#: Dtype label of HEAD rows unless ``bench.hybrid_step.DTYPES[name]`` says otherwise.
HEAD_DTYPE = "float64"


class Head(Adapter):
    workloads = frozenset({"HEAD"})
    precisions = (DOUBLE,)
    memory_factor = 4.0

    def __init__(self, name: str) -> None:
        if name not in HEAD_ADAPTERS:
            raise ValueError(f"unknown HEAD implementation {name!r}; choose from {HEAD_ADAPTERS}")
        self.name = name
        self.kind = "ours" if name == "qhybrid" else "peer"
        self.distributions = {"qhybrid": ("torch",), "pennylane-lightning": ("pennylane-lightning", "torch"),
                              "torch-statevector": ("torch",)}[name]

    def unavailable_reason(self) -> str | None:
        return None if module_available(HEAD_MODULE) else f"{HEAD_MODULE} not available"

    def dtypes(self, workload: str, precision: str, problem: Problem | None = None) -> tuple[str, ...]:
        """One row per implementation, labelled with the dtype ``bench.hybrid_step`` declares."""
        return (head_dtype(self.name),) if workload == "HEAD" and precision == DOUBLE else ()

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        try:
            mod = importlib.import_module(HEAD_MODULE)
        except ImportError as exc:
            raise AdapterUnavailable(f"{HEAD_MODULE} cannot be imported ({exc})") from exc
        available = getattr(mod, "available", lambda name: name in getattr(mod, "ADAPTERS", {}))
        if self.name not in getattr(mod, "ADAPTERS", {}) or not available(self.name):
            raise AdapterUnavailable(f"{HEAD_MODULE}: {self.name} not available")
        step = mod.ADAPTERS[self.name](problem.n_qubits, problem.batch, problem.seed)
        torch = sys.modules.get("torch")     # imported by the implementation, if it uses torch
        if torch is not None:                # (OMP_NUM_THREADS already set its default; make it explicit)
            torch.set_num_threads(threads)
        return Prepared(lambda: float(step()), lambda loss: {"loss": np.array([loss])}, "hybrid_step")


def head_dtype(name: str) -> str:
    """The dtype label ``bench.hybrid_step`` declares for ``name`` (default :data:`HEAD_DTYPE`)."""
    from ..schema import BYTES_PER_AMPLITUDE

    try:
        mod = importlib.import_module(HEAD_MODULE)
    except Exception:  # noqa: BLE001 - a missing or broken module: the rows say so when they run
        return HEAD_DTYPE
    dtype = getattr(mod, "DTYPES", {}).get(name, HEAD_DTYPE)
    return dtype if dtype in BYTES_PER_AMPLITUDE else HEAD_DTYPE
