"""Measurements of the host: memory, CPU model and cores, caches, load, and memory copy bandwidth.

One home for what the benchmark (:mod:`bench.measure`) and the energy model
(:mod:`energy.measure`) both need to know about the machine they run on; the simulator's memory
guard reads :func:`available_memory` too.  Nothing here imports anything of ours.

**Copy bandwidth.**  :func:`copy_bandwidth` times ``numpy.copyto`` of an ``nbytes`` buffer
``repeats`` times and reports the median of

.. math::

    B = \\frac{2 \\, n_\\mathrm{bytes}}{t},

bytes read plus bytes written: the convention of STREAM's *copy* and of a state-vector pass
that reads and writes ``S`` bytes.  One NumPy copy runs on one thread, so on a many-core machine
it under-estimates what a parallel kernel reaches.

**Caches.**  :func:`cache_size` reads CPU 0's caches from sysfs (``level``, ``type``, ``size``
and ``shared_cpu_list`` of each ``index*`` folder) and reports a data or unified level's share
per logical CPU, ``size / #CPUs sharing it``; the cache-blocked state-vector plan sizes its blocks
from the L2 share (:func:`qsim.backends.numba_backend.local_qubits`).
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time

import numpy as np

__all__ = ["COPY_REPEATS", "FALLBACK_CACHE", "available_memory", "cache_size", "cache_sizes", "copy_bandwidth",
           "cpu_count", "cpu_model", "load_average", "total_memory", "usable_cores"]

#: Copies timed by :func:`copy_bandwidth`; the median is reported.
COPY_REPEATS = 5
#: Shortest copy time credited (s): a timer tick must not turn into an infinite bandwidth.
MIN_COPY_SECONDS = 1e-12
#: Where Linux reports memory (``MemTotal``, ``MemAvailable``) and the CPU model.
MEMINFO, CPUINFO = "/proc/meminfo", "/proc/cpuinfo"
#: Where Linux describes CPU 0's caches: one ``index*`` folder per cache.
CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"
#: Per-CPU cache shares (bytes) assumed for the levels sysfs does not report (other platforms,
#: containers without ``/sys``): the smallest L1d and L2 of the x86-64 and Arm server cores of
#: the last decade (32 KiB, 256 KiB) and a 1 MiB slice of L3, so blocks sized from them fit
#: wherever the code runs; a real size only makes blocks larger.
FALLBACK_CACHE = {1: 32 * 1024, 2: 256 * 1024, 3: 1024 * 1024}


def _meminfo(field: str) -> int | None:
    """A ``/proc/meminfo`` field in bytes (``None`` where the file or the field is missing)."""
    try:
        with open(MEMINFO, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _sysconf_bytes(pages: str) -> int | None:
    try:
        return int(os.sysconf(pages)) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def total_memory() -> int:
    """Physical memory in bytes (``MemTotal``, else ``os.sysconf``; 0 where neither is known)."""
    for value in (_meminfo("MemTotal"), _sysconf_bytes("SC_PHYS_PAGES")):
        if value is not None:
            return value
    return 0


def available_memory() -> int | None:
    """Bytes the host can give without swapping: ``MemAvailable`` of ``/proc/meminfo``, else the
    free physical pages (``os.sysconf``), else ``None`` (unknown)."""
    value = _meminfo("MemAvailable")
    return value if value is not None else _sysconf_bytes("SC_AVPHYS_PAGES")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else what :mod:`platform` knows, else ``"unknown"``)."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_count() -> int:
    """Logical CPUs of the machine (``os.cpu_count()``, at least 1)."""
    return os.cpu_count() or 1


def usable_cores() -> int:
    """Logical CPUs this process may run on (its affinity mask; :func:`cpu_count` off Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return cpu_count()


def _parse_size(text: str) -> int:
    """``"48K"``, ``"2048K"``, ``"32M"`` or ``"65536"`` (sysfs cache sizes) in bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _count_cpus(cpu_list: str) -> int:
    """Number of CPUs in a sysfs CPU list such as ``"0-3,8,10-11"``."""
    count = 0
    for part in cpu_list.strip().split(","):
        lo, _, hi = part.partition("-")
        count += int(hi) - int(lo) + 1 if hi else 1
    return count


@functools.lru_cache(maxsize=1)
def cache_sizes() -> dict[int, int]:
    """Bytes per logical CPU of each data or unified cache level of CPU 0: ``{level: size / sharers}``.

    Read once from :data:`CACHE_DIR`; levels sysfs does not describe take :data:`FALLBACK_CACHE`.
    """
    found: dict[int, int] = {}
    try:
        folders = sorted(d for d in os.listdir(CACHE_DIR) if d.startswith("index"))
    except OSError:
        folders = []
    for folder in folders:
        path = os.path.join(CACHE_DIR, folder)
        try:
            with open(os.path.join(path, "type"), encoding="ascii") as handle:
                if handle.read().strip() == "Instruction":
                    continue
            with open(os.path.join(path, "level"), encoding="ascii") as handle:
                level = int(handle.read())
            with open(os.path.join(path, "size"), encoding="ascii") as handle:
                size = _parse_size(handle.read())
            try:
                with open(os.path.join(path, "shared_cpu_list"), encoding="ascii") as handle:
                    sharers = max(1, _count_cpus(handle.read()))
            except OSError:
                sharers = 1
        except (OSError, ValueError):
            continue
        if size > 0:
            found[level] = size // sharers
    return {**FALLBACK_CACHE, **found}


def cache_size(level: int) -> int:
    """Bytes of the level-``level`` data/unified cache per logical CPU (:func:`cache_sizes`).

    Raises:
        ValueError: for a level neither sysfs nor :data:`FALLBACK_CACHE` knows.
    """
    sizes = cache_sizes()
    if level not in sizes:
        raise ValueError(f"no level-{level} cache known (levels: {sorted(sizes)})")
    return sizes[level]


def load_average() -> float | None:
    """The 1-minute load average (``None`` where the platform has none)."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def copy_bandwidth(nbytes: int, repeats: int = COPY_REPEATS) -> float:
    """Median copy bandwidth ``2 nbytes / t`` (B/s) over ``repeats`` timed ``numpy.copyto`` of ``nbytes``.

    Raises:
        ValueError: ``nbytes`` or ``repeats`` below 1.
    """
    if nbytes < 1 or repeats < 1:
        raise ValueError(f"copy of {nbytes} bytes x {repeats} repeats: both must be >= 1")
    src = np.ones(max(1, int(nbytes) // 8), dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch the pages once so the first timing does not count page faults
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        rates.append(2.0 * src.nbytes / max(time.perf_counter() - start, MIN_COPY_SECONDS))
    return float(statistics.median(rates))
