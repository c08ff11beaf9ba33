"""Timing, memory and machine measurements used by the harness and its workers.

The host measurements (memory, CPU model, load, copy bandwidth) live in :mod:`qsim.hostinfo`;
their names are re-exported here for the harness and the workers.
"""

from __future__ import annotations

import logging
import platform
import time
from typing import Callable

from energy.measure import EnergyCounter, EnergyReading, measure_energy, open_energy_counter
from qsim import hostinfo
from qsim.hostinfo import copy_bandwidth, cpu_model, load_average, total_memory

from .adapters.base import package_version

__all__ = [
    "WARMUP_RUNS", "MIN_REPEATS", "MAX_REPEATS", "COPY_REPEATS", "COPY_MACHINE_BYTES", "COPY_MAX_BYTES",
    "MEMORY_HEADROOM", "time_repeats", "copy_bandwidth", "load_average", "available_memory", "total_memory",
    "cpu_model", "gpu_name", "package_versions", "machine_info", "RECORDED_PACKAGES", "open_energy_counter",
    "time_repeats_with_energy", "energy_fields",
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
COPY_REPEATS = hostinfo.COPY_REPEATS
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


def time_repeats_with_energy(fn: Callable[[], object], budget: float, counter: EnergyCounter | None,
                             **kwargs) -> tuple[list[float], EnergyReading | None]:
    """:func:`time_repeats` with the energy counter read before and after all the repeats.

    Without a counter (``None``: not readable on this machine) the reading is ``None``.  One
    window over all repeats, not one per repeat: RAPL and NVML advance in steps of 1-100 ms
    (:data:`energy.measure.MIN_WINDOW_RESOLUTIONS`), longer than many single runs.
    """
    if counter is None:
        return time_repeats(fn, budget, **kwargs), None
    times, reading = measure_energy(lambda: time_repeats(fn, budget, **kwargs), counter)
    return times, reading  # type: ignore[return-value]


def energy_fields(reading: EnergyReading | None, repeats: int) -> dict:
    """A record's ``energy_j`` (one run: the window's joules / repeats), ``power_w`` and ``energy_counter``."""
    if reading is None or repeats < 1:
        return {"energy_j": None, "power_w": None, "energy_counter": None}
    return {"energy_j": reading.joules / repeats, "power_w": reading.watts, "energy_counter": reading.method}


def available_memory() -> int:
    """Memory available to a new allocation, in bytes (:func:`qsim.hostinfo.available_memory`, else
    the physical memory when the host does not say)."""
    return hostinfo.available_memory() or total_memory()


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
        "cores": hostinfo.cpu_count(),
        "memory_bytes": total_memory(),
        "copy_bandwidth_bytes_per_s": bw,
        "gpu": gpu_name(),
        "packages": package_versions(),
    }
