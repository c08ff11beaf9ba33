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

**Energy counters** (:func:`open_energy_counter`), read around a workload by the benchmark
(``bench.worker``) so that every bench row carries the joules it cost:

* CPU: :class:`RaplCounter` sums the ``energy_uj`` of the RAPL domains above; each domain's
  increase wraps at its ``max_energy_range_uj``.  The root is :data:`RAPL_ROOT`, or the folder in
  ``$QHYBRID_RAPL_ROOT`` (:data:`RAPL_ROOT_ENV`: a copy of the tree, a container mount, a test).
* GPU: :class:`NvmlCounter` reads ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since
  the driver loaded; Volta and newer) of GPU ``index`` when ``pynvml`` is importable.

A window shorter than :data:`MIN_WINDOW_RESOLUTIONS` counter updates gives no reading: the
counters advance in steps (:attr:`RaplCounter.resolution_s`, :attr:`NvmlCounter.resolution_s`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from energy.profiles import Kind, Profile
from qsim.hostinfo import COPY_REPEATS, cache_size, copy_bandwidth, total_memory, usable_cores

__all__ = [
    "DEFAULT_COPY_BYTES",
    "DEFAULT_COPY_REPEATS",
    "EnergyCounter",
    "EnergyReading",
    "MIN_WINDOW_RESOLUTIONS",
    "NvmlCounter",
    "PowerReading",
    "RAPL_ROOT_ENV",
    "RaplCounter",
    "measure_energy",
    "open_energy_counter",
    "rapl_root",
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
#: Environment variable naming another RAPL root (same layout as :data:`RAPL_ROOT`).
RAPL_ROOT_ENV = "QHYBRID_RAPL_ROOT"
#: RAPL counters advance about every millisecond (Intel SDM vol. 3B §15.10.1, "RAPL interfaces":
#: the energy status is updated approximately every 1 ms) [P].
RAPL_RESOLUTION_S = 1e-3
#: NVML's energy counter follows the board power sensor; its update period is not documented and
#: is taken as 100 ms (power samples of A100/H100 boards are 20-100 ms apart) [A].
NVML_RESOLUTION_S = 0.1
#: A reading needs a window of at least this many counter updates (one update off is then <= 10 %).
MIN_WINDOW_RESOLUTIONS = 10
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


def measure_rapl_power(workload: Callable[[], object], root: str | os.PathLike[str] | None = None,
                       clock: Callable[[], float] = time.perf_counter) -> PowerReading | None:
    """Average RAPL power over ``workload()``; ``None`` where RAPL is absent or unreadable.

    ``root`` defaults to :func:`rapl_root` (``$QHYBRID_RAPL_ROOT`` or :data:`RAPL_ROOT`).
    """
    domains = rapl_domains(rapl_root(root))
    if not domains:
        return None
    counter = RaplCounter(domains)
    try:
        before = counter.read()
        start = clock()
        workload()
        elapsed = clock() - start
        joules = counter.joules(before, counter.read())
    except OSError as exc:
        log.info("RAPL not read: %s", exc)
        return None
    if elapsed <= 0:
        return None
    return PowerReading(joules / elapsed, "rapl", f"{counter.detail} over {elapsed:.2f} s")


def rapl_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The RAPL root: ``root`` when given, else ``$QHYBRID_RAPL_ROOT``, else :data:`RAPL_ROOT`."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(RAPL_ROOT_ENV) or RAPL_ROOT)


@dataclass(frozen=True)
class EnergyReading:
    """Energy drawn over a window, from a cumulative counter.

    Attributes:
        joules: energy over the window (J).
        seconds: the window's length (s).
        method: ``"rapl"`` or ``"nvml"``.
        detail: what was read (domains, device).
    """

    joules: float
    seconds: float
    method: str
    detail: str

    @property
    def watts(self) -> float:
        """Mean power over the window."""
        return self.joules / self.seconds


class EnergyCounter(Protocol):
    """A cumulative energy counter: ``read()`` a snapshot, ``joules(before, after)`` between two."""

    method: str
    detail: str
    resolution_s: float

    def read(self) -> Any: ...

    def joules(self, before: Any, after: Any) -> float: ...

    def close(self) -> None: ...


class RaplCounter:
    """The RAPL package (and DRAM) domains under a root, summed; wrap-around handled per domain."""

    method = "rapl"
    resolution_s = RAPL_RESOLUTION_S

    def __init__(self, domains: Sequence[Path]) -> None:
        if not domains:
            raise ValueError("RaplCounter needs at least one domain")
        self.domains = tuple(domains)
        self.ranges = tuple(_read_int(d / "max_energy_range_uj") for d in self.domains)
        self.detail = "RAPL " + ", ".join(d.name for d in self.domains)

    def read(self) -> tuple[int, ...]:
        """Microjoule counters of every domain; ``OSError`` when one cannot be read."""
        values = []
        for domain in self.domains:
            value = _read_int(domain / "energy_uj")
            if value is None:
                raise OSError(f"{domain / 'energy_uj'}: not readable")
            values.append(value)
        return tuple(values)

    def joules(self, before: Sequence[int], after: Sequence[int]) -> float:
        """Sum of the increases; a decrease is a wrap at ``max_energy_range_uj`` (once per window)."""
        total = 0
        for domain, top, e0, e1 in zip(self.domains, self.ranges, before, after):
            delta = e1 - e0
            if delta < 0:
                if not top:
                    raise OSError(f"{domain}: counter wrapped and max_energy_range_uj is not readable")
                delta += top
            total += delta
        return total * 1e-6

    def close(self) -> None:
        """Nothing to release."""


class NvmlCounter:
    """``nvmlDeviceGetTotalEnergyConsumption`` of one GPU (millijoules since the driver loaded)."""

    method = "nvml"
    resolution_s = NVML_RESOLUTION_S

    def __init__(self, nvml: Any, index: int = 0) -> None:
        self._nvml = nvml
        self._handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = nvml.nvmlDeviceGetName(self._handle)
        self.detail = f"NVML GPU {index} ({name.decode() if isinstance(name, bytes) else name})"

    def read(self) -> int:
        """Millijoules since the driver loaded."""
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    def joules(self, before: int, after: int) -> float:
        """Increase in joules (the counter is 64-bit: it does not wrap)."""
        return (after - before) * 1e-3

    def close(self) -> None:
        """Shut NVML down (it was initialised by :func:`open_energy_counter`)."""
        try:
            self._nvml.nvmlShutdown()
        except Exception as exc:  # NVML raises its own error types; shutting down is best effort
            log.debug("nvmlShutdown: %s", exc)


def _open_nvml(index: int) -> tuple[EnergyCounter | None, str]:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None, "pynvml is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVML raises its own error types; any failure means "no counter"
        return None, f"NVML did not initialise ({exc})"
    try:
        counter = NvmlCounter(pynvml, index)
        counter.read()
    except Exception as exc:  # no such GPU, or a GPU older than Volta (no energy counter)
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - best effort
            pass
        return None, f"NVML total-energy counter of GPU {index} not available ({exc})"
    return counter, ""


def open_energy_counter(device: str, root: str | os.PathLike[str] | None = None,
                        gpu_index: int = 0) -> tuple[EnergyCounter | None, str]:
    """The energy counter of ``device`` (``"cpu"``: RAPL, ``"gpu"``: NVML), or ``None`` and why.

    Args:
        device: ``"cpu"`` or ``"gpu"`` (a bench row's ``device``).
        root: the RAPL root (default :func:`rapl_root`: ``$QHYBRID_RAPL_ROOT`` or sysfs).
        gpu_index: the NVML device index.

    Returns:
        ``(counter, "")`` or ``(None, reason)``; close the counter when done.
    """
    if device == "gpu":
        return _open_nvml(gpu_index)
    if device != "cpu":
        raise ValueError(f"device {device!r}: must be 'cpu' or 'gpu'")
    where = rapl_root(root)
    if not where.is_dir():
        return None, f"no RAPL: {where} does not exist (set ${RAPL_ROOT_ENV} to a powercap tree)"
    domains = rapl_domains(where)
    if not domains:
        return None, (f"no readable RAPL domain under {where} (energy_uj is often root-only: "
                      "chmod a+r or run as root)")
    return RaplCounter(domains), ""


def measure_energy(workload: Callable[[], object], counter: EnergyCounter,
                   clock: Callable[[], float] = time.perf_counter) -> tuple[object, EnergyReading | None]:
    """Run ``workload()`` between two counter reads; ``(result, reading)``.

    The reading is ``None`` when the counter fails or the window is shorter than
    :data:`MIN_WINDOW_RESOLUTIONS` counter updates (logged at debug level).
    """
    try:
        before = counter.read()
    except OSError as exc:
        log.debug("energy counter not read: %s", exc)
        return workload(), None
    start = clock()
    result = workload()
    elapsed = clock() - start
    try:
        joules = counter.joules(before, counter.read())
    except OSError as exc:
        log.debug("energy counter not read: %s", exc)
        return result, None
    if elapsed < MIN_WINDOW_RESOLUTIONS * counter.resolution_s or not joules > 0:
        log.debug("energy window %.3g s (%.3g J) too short for the %s counter", elapsed, joules,
                  counter.method)
        return result, None
    return result, EnergyReading(joules, elapsed, counter.method, counter.detail)


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
                         rapl_root: str | os.PathLike[str] | None = None) -> tuple[Profile, PowerReading]:
    """``base`` (the ``cpu`` profile) with this machine's memory, cores, copy bandwidth and power.

    A blocked profile (``block_cache > 0``) also takes this machine's per-core L2 share
    (:func:`qsim.hostinfo.cache_size`), the cache qsim's Numba backend sizes its blocks to.

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
    if base["block_cache"] > 0:
        profile = profile.with_constant("block_cache", cache_size(2), tag="M",
                                        source=f"L2 share per core (qsim.hostinfo.cache_size), {measured}")
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
