"""Measurements of the host: memory, CPU model and cores, load, and memory copy bandwidth.

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
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

__all__ = ["COPY_REPEATS", "available_memory", "copy_bandwidth", "cpu_count", "cpu_model", "load_average",
           "total_memory", "usable_cores"]

#: Copies timed by :func:`copy_bandwidth`; the median is reported.
COPY_REPEATS = 5
#: Shortest copy time credited (s): a timer tick must not turn into an infinite bandwidth.
MIN_COPY_SECONDS = 1e-12
#: Where Linux reports memory (``MemTotal``, ``MemAvailable``) and the CPU model.
MEMINFO, CPUINFO = "/proc/meminfo", "/proc/cpuinfo"


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
