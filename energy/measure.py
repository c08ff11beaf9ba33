"""Measurements on this machine: memory copy bandwidth, and power from RAPL or NVML.

**Copy bandwidth.**  :func:`measure_copy_bandwidth` (:func:`qsim.hostinfo.copy_bandwidth`, the
host measurements' one home) times ``numpy.copyto`` of a large array
(``nbytes``, default :data:`DEFAULT_COPY_BYTES`) a few times and reports the median of
``2 * nbytes / t``: bytes read plus bytes written, the convention of STREAM's *copy* and of the
simulation model's ``2 S`` bytes per pass.  One NumPy copy runs on one thread, so on a many-core
machine it under-estimates the bandwidth a parallel kernel reaches (calibration then finds an
efficiency above 1; :mod:`energy.calibrate` handles that).

**Power.**  Where the machine offers it:

* RAPL (``/sys/class/powercap/intel-rapl:*``, also used by AMD CPUs): the energy counters
  ``energy_uj`` of the top-level package domains and their ``dram`` sub-domains, read before and
  after a workload; ``P = (sum of counter increases, wrapping at max_energy_range_uj) / elapsed``.
* NVML (``pynvml``, when importable): the board power of GPU ``index``.

Otherwise the profile's figure is used: ``u P_dev + P_host`` (TDP times the documented
utilisation, plus the host share).  :class:`PowerReading.method` says which one was used.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from energy.profiles import Kind, Profile
from qsim.hostinfo import COPY_REPEATS, copy_bandwidth, total_memory, usable_cores

__all__ = [
    "DEFAULT_COPY_BYTES",
    "DEFAULT_COPY_REPEATS",
    "PowerReading",
    "measure_copy_bandwidth",
    "measure_rapl_power",
    "measured_cpu_profile",
    "nvml_power",
    "profile_power",
    "rapl_domains",
    "with_measured_power",
]

log = logging.getLogger(__name__)

#: Size of the array copied to measure bandwidth: far larger than any last-level cache.
DEFAULT_COPY_BYTES = 256 * 2**20
#: Copies timed; the median is reported.
DEFAULT_COPY_REPEATS = COPY_REPEATS
#: The copy never takes more than this fraction of physical memory (two arrays are allocated).
MAX_COPY_MEMORY_FRACTION = 0.125
#: Where Linux exposes RAPL energy counters.
RAPL_ROOT = Path("/sys/class/powercap")
#: Power readings that are measurements (and may replace a profile's TDP-based figure).
MEASURED_POWER_METHODS = frozenset({"rapl", "nvml"})


@dataclass(frozen=True)
class PowerReading:
    """A power figure and how it was obtained.

    Attributes:
        watts: average power (W).
        method: ``"rapl"``, ``"nvml"`` or ``"tdp x utilisation"``.
        detail: what was read (domains, device) or which profile constants were used.
    """

    watts: float
    method: str
    detail: str


def measure_copy_bandwidth(nbytes: int = DEFAULT_COPY_BYTES,
                           repeats: int = DEFAULT_COPY_REPEATS) -> float:
    """Median copy bandwidth ``2 nbytes / t`` (B/s) over ``repeats`` timed ``numpy.copyto``
    (:func:`qsim.hostinfo.copy_bandwidth` with this module's defaults)."""
    return copy_bandwidth(nbytes, repeats)


def rapl_domains(root: Path = RAPL_ROOT) -> list[Path]:
    """Readable RAPL domains: packages (``intel-rapl:N``) and their ``dram`` sub-domains."""
    domains = []
    for package in sorted(root.glob("intel-rapl:*")):
        if package.name.count(":") != 1:
            continue
        candidates = [package] + [sub for sub in sorted(package.glob(f"{package.name}:*"))
                                  if _read_text(sub / "name") == "dram"]
        domains += [d for d in candidates if _read_int(d / "energy_uj") is not None]
    return domains


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def measure_rapl_power(workload: Callable[[], object], root: Path = RAPL_ROOT,
                       clock: Callable[[], float] = time.perf_counter) -> PowerReading | None:
    """Average RAPL power over ``workload()``; ``None`` where RAPL is absent or unreadable."""
    domains = rapl_domains(root)
    if not domains:
        return None
    before = [_read_int(d / "energy_uj") for d in domains]
    start = clock()
    workload()
    elapsed = clock() - start
    after = [_read_int(d / "energy_uj") for d in domains]
    if elapsed <= 0 or None in before or None in after:
        return None
    joules = 0.0
    for domain, e0, e1 in zip(domains, before, after):
        delta = e1 - e0
        if delta < 0:  # the counter wrapped
            delta += _read_int(domain / "max_energy_range_uj") or 0
        joules += delta * 1e-6
    names = ", ".join(d.name for d in domains)
    return PowerReading(joules / elapsed, "rapl", f"RAPL {names} over {elapsed:.2f} s")


def nvml_power(index: int = 0) -> PowerReading | None:
    """Board power of GPU ``index`` from NVML; ``None`` without ``pynvml`` or a GPU."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            milliwatts = pynvml.nvmlDeviceGetPowerUsage(handle)
            name = pynvml.nvmlDeviceGetName(handle)
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # NVML raises its own error types; any failure means "not available"
        log.info("NVML power not available: %s", exc)
        return None
    return PowerReading(milliwatts / 1000.0, "nvml", f"NVML GPU {index} ({name!s})")


def profile_power(profile: Profile) -> PowerReading:
    """The profile's power per device: ``u P_dev + P_host`` (no measurement)."""
    u, p_dev, p_host = (profile["power_utilisation"], profile["device_power"],
                        profile["host_power_per_device"])
    return PowerReading(u * p_dev + p_host, "tdp x utilisation",
                        f"{profile.name}: {u:g} x {p_dev:g} W + {p_host:g} W host")


def with_measured_power(profile: Profile, reading: PowerReading) -> Profile:
    """``profile`` with a measured power per device: ``P_dev`` = the reading, ``u = 1``.

    A RAPL reading covers the package (and DRAM), so the host share becomes 0; NVML reads the GPU
    board only, so the profile's host share is kept.

    Raises:
        ValueError: the reading is not a measurement (``"tdp x utilisation"``).
    """
    if reading.method not in MEASURED_POWER_METHODS:
        raise ValueError(f"power reading method {reading.method!r}: only measured power "
                         f"({sorted(MEASURED_POWER_METHODS)}) replaces the profile's figure")
    profile = (profile
               .with_constant("device_power", reading.watts, source=reading.detail, tag="M")
               .with_constant("power_utilisation", 1.0, source="measured power is the loaded value",
                              tag="M"))
    if reading.method == "rapl":
        profile = profile.with_constant("host_power_per_device", 0.0,
                                        source="inside the RAPL package(+dram) power", tag="M")
    return profile


def measured_cpu_profile(base: Profile, nbytes: int = DEFAULT_COPY_BYTES,
                         repeats: int = DEFAULT_COPY_REPEATS,
                         rapl_root: Path = RAPL_ROOT) -> tuple[Profile, PowerReading]:
    """``base`` (the ``cpu`` profile) with this machine's memory, cores, copy bandwidth and power.

    Power comes from RAPL measured during the copies when readable; otherwise the profile's
    per-core power is scaled to this machine's core count (``P_dev * cores / cores_profile``).
    """
    if base.kind is not Kind.SIMULATOR:
        raise ValueError(
            f"profile {base.name!r} is a {base.kind.value} profile, expected a simulator"
        )
    memory, cores = total_memory(), usable_cores()
    nbytes = int(min(nbytes, MAX_COPY_MEMORY_FRACTION * memory))
    result: list[float] = []
    reading = measure_rapl_power(
        lambda: result.append(measure_copy_bandwidth(nbytes, repeats)), rapl_root)
    bandwidth = result[0] if result else measure_copy_bandwidth(nbytes, repeats)
    measured = f"measured by energy.measure on this machine ({time.strftime('%Y-%m-%d')})"
    copy = f"median NumPy copy of {nbytes / 2**20:.0f} MiB x {repeats}"
    profile = (base
               .with_constant("memory_per_device", memory, source=f"physical memory, {measured}",
                              tag="M")
               .with_constant("cores", cores, source=f"usable cores, {measured}", tag="M")
               .with_constant("bandwidth_per_device", bandwidth, source=f"{copy}, {measured}",
                              tag="M"))
    if reading is not None:
        profile = with_measured_power(profile, reading)
    else:
        per_core = base["device_power"] / base["cores"]
        profile = profile.with_constant(
            "device_power", per_core * cores, tag="D",
            source=f"no RAPL: profile's {per_core:g} W per core x {cores} cores")
        reading = profile_power(profile)
    log.info("measured cpu: %.3g B/s copy, %d cores, %.3g B memory, power from %s",
             bandwidth, cores, memory, reading.method)
    return profile.renamed("cpu (measured)", "CPU, this machine, measured at run time"), reading
