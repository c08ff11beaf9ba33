"""Timing, memory and machine measurements used by the harness and its workers."""

from __future__ import annotations

import logging
import os
import platform
import time
from typing import Callable

import numpy as np

from .adapters.base import package_version

__all__ = [
    "WARMUP_RUNS", "MIN_REPEATS", "MAX_REPEATS", "COPY_REPEATS", "COPY_MACHINE_BYTES", "COPY_MAX_BYTES",
    "MEMORY_HEADROOM", "time_repeats", "copy_bandwidth", "load_average", "available_memory", "total_memory",
    "cpu_model", "gpu_name", "package_versions", "machine_info", "RECORDED_PACKAGES",
]

log = logging.getLogger(__name__)

#: Untimed runs before the repeats (JIT compilation, caches, first-touch allocation).
WARMUP_RUNS = 1
#: Repeats measured at least (min / median / max need three) when the budget allows them; a
#: size whose single run takes more than ``budget / MIN_REPEATS`` gets as many as fit (at least one).
MIN_REPEATS = 3
#: Repeats measured at most, even when the budget allows more (more add little to the median).
MAX_REPEATS = 10
#: Repeats of a NumPy copy when measuring copy bandwidth (the median is reported).
COPY_REPEATS = 5
#: Buffer size of the machine-level copy bandwidth (well above any last-level cache).
COPY_MACHINE_BYTES = 256 << 20
#: Largest buffer of a per-point copy measurement (beyond the caches the bandwidth is flat).
COPY_MAX_BYTES = 512 << 20
#: Fraction of the available memory a point may plan to use; larger sizes are skipped.
MEMORY_HEADROOM = 0.8

#: Distributions whose versions go into ``machine.packages`` (when installed).
RECORDED_PACKAGES = ("qhybrid", "numpy", "numba", "scipy", "torch", "cupy-cuda12x", "cupy-cuda11x", "qulacs",
                     "pennylane", "pennylane-lightning", "qiskit", "qiskit-aer", "qsimcirq", "cirq-core",
                     "matplotlib", "pytest-benchmark")


def time_repeats(fn: Callable[[], object], budget: float, *, min_repeats: int = MIN_REPEATS,
                 max_repeats: int = MAX_REPEATS, first_run: float | None = None) -> list[float]:
    """Wall times of repeated ``fn()`` calls.

    At least ``min_repeats`` (fewer, but one at least, when a single run, ``first_run``, is too
    long for ``min_repeats`` of them to fit in ``budget``), then more while the next run still
    fits in ``budget`` seconds, up to ``max_repeats``.
    """
    if first_run is not None and first_run > 0:
        min_repeats = max(1, min(min_repeats, int(budget // first_run)))
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if len(times) >= min_repeats and elapsed + times[-1] > budget:
            break
    return times


def copy_bandwidth(nbytes: int, repeats: int = COPY_REPEATS) -> float:
    """Bytes per second moved by ``numpy.copyto`` of an ``nbytes`` buffer (read + write, median)."""
    n = max(1, int(nbytes) // 8)
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return 2.0 * src.nbytes / max(float(np.median(times)), 1e-12)


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def _meminfo(field: str) -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def total_memory() -> int:
    """Physical memory in bytes."""
    v = _meminfo("MemTotal")
    if v is not None:
        return v
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def available_memory() -> int:
    """Memory available to a new allocation, in bytes (``MemAvailable`` on Linux)."""
    v = _meminfo("MemAvailable")
    return v if v is not None else total_memory()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def gpu_name() -> str | None:
    """Name of CUDA device 0 through CuPy (None without CuPy or a device)."""
    from .adapters.base import module_available

    if not module_available("cupy"):
        return None
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - a broken CUDA setup means "no GPU" here
        return None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in RECORDED_PACKAGES:
        v = package_version(dist)
        if v is not None:
            out[dist] = v
    return out


def machine_info(copy_bytes: int = COPY_MACHINE_BYTES) -> dict:
    """The ``machine`` object of the document, with the copy bandwidth measured now."""
    bw = copy_bandwidth(copy_bytes)
    log.info("copy bandwidth %.2f GB/s (%d MiB buffer)", bw / 1e9, copy_bytes >> 20)
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 1,
        "memory_bytes": total_memory(),
        "copy_bandwidth_bytes_per_s": bw,
        "gpu": gpu_name(),
        "packages": package_versions(),
    }
