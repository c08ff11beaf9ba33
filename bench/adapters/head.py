"""HEAD: one training step of the hybrid head, through :mod:`bench.hybrid_step`.

:mod:`bench.hybrid_step` exposes ``ADAPTERS``, a dict mapping ``"qhybrid"``,
``"pennylane-lightning"`` and ``"torch-statevector"`` to ``make_step(n_qubits, batch, seed) ->
step``, where ``step()`` runs one training step and returns the loss, ``available(name) -> bool``
(the implementation's packages are installed) and ``DTYPES`` (the dtype label of each).  An
implementation whose packages are missing gives skipped rows with the reason.

Agreement: the loss returned by the first step of a fresh ``make_step(n, batch, seed)`` (the
loss at initialisation) must match qhybrid's within :data:`bench.agreement.HEAD_LOSS_TOL`, so
all implementations must build the same model and data from the same seed.
"""

from __future__ import annotations

import numpy as np

from .. import hybrid_step
from ..schema import BYTES_PER_AMPLITUDE
from ..workloads import Problem
from .base import DOUBLE, Adapter, AdapterUnavailable, Prepared

__all__ = ["Head", "HEAD_ADAPTERS", "HEAD_MODULE", "HEAD_DTYPE"]

HEAD_MODULE = hybrid_step.__name__
HEAD_ADAPTERS = tuple(hybrid_step.ADAPTERS)
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

    def dtypes(self, workload: str, precision: str, problem: Problem | None = None) -> tuple[str, ...]:
        """One row per implementation, labelled with the dtype ``bench.hybrid_step`` declares."""
        return (head_dtype(self.name),) if workload == "HEAD" and precision == DOUBLE else ()

    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        if not hybrid_step.available(self.name):
            raise AdapterUnavailable(f"{HEAD_MODULE}: {self.name} not available")
        import torch  # every HEAD implementation trains with torch (available() checked it is installed)

        torch.set_num_threads(threads)  # OMP_NUM_THREADS already set its default; make it explicit
        step = hybrid_step.ADAPTERS[self.name](problem.n_qubits, problem.batch, problem.seed)
        return Prepared(lambda: float(step()), lambda loss: {"loss": np.array([loss])}, "hybrid_step")


def head_dtype(name: str) -> str:
    """The dtype label ``bench.hybrid_step`` declares for ``name`` (default :data:`HEAD_DTYPE`)."""
    dtype = hybrid_step.DTYPES.get(name, HEAD_DTYPE)
    return dtype if dtype in BYTES_PER_AMPLITUDE else HEAD_DTYPE
