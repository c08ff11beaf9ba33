"""Seeds and deterministic execution for reproducible runs.

Call :func:`seed_everything` *before* building a model, so that its weight initialisation is
reproducible, and run training inside :func:`deterministic` when bit-for-bit repeatability
matters more than speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator

import numpy as np

__all__ = ["deterministic", "seed_everything"]

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device).

    Raises:
        ValueError: ``seed`` is not an integer in ``[0, 2**32)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    import torch

    torch.manual_seed(int(seed))  # also seeds all CUDA devices


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Context manager: torch deterministic algorithms on (when ``enabled``), restored on exit.

    Sets ``torch.use_deterministic_algorithms(True, warn_only=True)`` (ops without a
    deterministic version warn instead of failing) and turns cuDNN benchmarking off. For CUDA
    matrix products it sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` if unset, as the torch
    reproducibility notes require; this only takes effect before CUDA is first initialised.
    """
    if not enabled:
        yield
        return
    import torch

    prev_alg = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_cudnn_det = torch.backends.cudnn.deterministic
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_alg, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn_det
