r"""Calibrate a simulator profile's efficiency ``eta`` from measured gate-pass times (bench JSON).

Input: a ``qhybrid.bench/1`` file written by the ``bench`` package.  Fields read:

* top level: ``schema`` (must be ``"qhybrid.bench/1"``), ``machine``, ``records``;
* ``machine``: ``copy_bandwidth_bytes_per_s`` (the device bandwidth for ``device = "cpu"``),
  ``memory_bytes`` and ``cores`` (copied into a calibrated CPU profile), ``gpu`` (reported);
* each record: ``workload`` (only the forward state-vector workloads :data:`FORWARD_WORKLOADS`
  are used: a W3 gradient row sweeps the state forward and backward, so its passes are not the
  forward passes the energy model counts), ``status`` (only ``"ok"``), ``simulator``, ``device``, ``n_qubits``,
  ``batch``, ``bytes_per_amplitude``, ``n_passes`` (state passes after fusion; ``null`` for peer
  simulators, then ``n_gates`` is used), ``n_gates`` and ``time_s.median``.

For each usable record, with ``b`` bytes per amplitude:

.. math::

    t = \frac{\mathrm{median}}{\mathrm{batch} \cdot \mathrm{passes}}, \qquad
    BW_{eff} = \frac{2\, b\, 2^n}{t}, \qquad \eta_r = \frac{BW_{eff}}{BW_{dev}} ,

where ``BW_dev`` is the machine's measured copy bandwidth (CPU) or the profile's peak bandwidth
(GPU).  Only records whose state ``b 2^n`` is at least :data:`MIN_MEMORY_BOUND_STATE_BYTES` are
used: smaller states stay in cache and would over-state the sustained bandwidth.  The fitted
``eta`` is the median of the ``eta_r`` (robust to a noisy repeat); the spread is reported.

A single-threaded copy can under-state what a parallel kernel reaches, giving ``eta > 1``; the
calibrated profile then sets ``eta = 1`` and the bandwidth to ``eta * BW_dev`` (the product is
what the model uses) and logs a warning.

A fit belongs to the device kind of its rows: :func:`calibrated_profile` refuses to put CPU rows
into a GPU profile (or the reverse), which would silently turn an H100 into a 2-core CPU.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from energy.measure import PowerReading, with_measured_power
from energy.profiles import Kind, Profile
from qsim.program import DEFAULT_FUSION, GPU_FUSION

__all__ = [
    "BENCH_SCHEMA",
    "CalibrationError",
    "DEFAULT_SIMULATOR",
    "EfficiencyFit",
    "FORWARD_WORKLOADS",
    "MIN_MEMORY_BOUND_STATE_BYTES",
    "RecordFit",
    "calibrated_profile",
    "fit_efficiency",
    "load_bench",
]

log = logging.getLogger(__name__)

BENCH_SCHEMA = "qhybrid.bench/1"
DEFAULT_SIMULATOR = "qhybrid-numba"

#: Smallest state (bytes) treated as memory-bound: 64 MiB exceeds the last-level cache of
#: common CPUs (32-256 MB shared by all cores) and every GPU's L2 (50 MB on H100), so a pass
#: streams from DRAM/HBM.  complex128: n >= 22; complex64: n >= 23.
MIN_MEMORY_BOUND_STATE_BYTES = 64 * 2**20


#: qsim fusion level each bench simulator lowers its circuits at (bench/schema.md ``n_passes``): the
#: calibrated profile counts passes at the same level, so eta and the pass count stay consistent.
FUSION_BY_SIMULATOR = {"qhybrid-numba": DEFAULT_FUSION, "qhybrid-cupy": GPU_FUSION, "qhybrid-numpy": 0}

#: Bench workloads whose rows are forward state-vector passes (bench/schema.md, "What the energy
#: module reads"): W1 layered forward, W2 batched forward, G1 one gate application.
FORWARD_WORKLOADS = frozenset({"W1", "W2", "G1"})


class CalibrationError(ValueError):
    """Bench data that cannot be used for calibration (the message says why)."""


@dataclass(frozen=True)
class RecordFit:
    """The efficiency implied by one bench record."""

    n_qubits: int
    dtype: str
    batch: int
    passes: int
    time_per_pass_s: float
    effective_bandwidth: float
    eta: float


@dataclass(frozen=True)
class EfficiencyFit:
    """Result of :func:`fit_efficiency`.

    Attributes:
        simulator, device: the records' selection.
        device_bandwidth: ``BW_dev`` (B/s) the efficiencies are relative to.
        bandwidth_source: where ``BW_dev`` came from.
        eta: median of the per-record efficiencies.
        eta_min, eta_max: their spread.
        records: the records used.
        skipped: ``{reason: count}`` for records left out.
    """

    simulator: str
    device: str
    device_bandwidth: float
    bandwidth_source: str
    eta: float
    eta_min: float
    eta_max: float
    records: tuple[RecordFit, ...]
    skipped: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["skipped"] = dict(self.skipped)
        return out


def load_bench(path: str | Path) -> dict[str, Any]:
    """Read and check a bench JSON file (schema, ``machine``, ``records``)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise CalibrationError(f"bench file {str(path)!r}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"bench file {str(path)!r}: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != BENCH_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise CalibrationError(
            f"bench file {str(path)!r}: schema = {found!r}, expected {BENCH_SCHEMA!r}"
        )
    if not isinstance(data.get("machine"), dict) or not isinstance(data.get("records"), list):
        raise CalibrationError(
            f"bench file {str(path)!r}: needs a 'machine' object and a 'records' list"
        )
    return data


def _record_fit(record: Mapping[str, Any], bandwidth: float) -> RecordFit:
    n = int(record["n_qubits"])
    batch = int(record["batch"])
    passes = record.get("n_passes") or record.get("n_gates")
    median = float(record["time_s"]["median"])
    if not passes or batch < 1 or median <= 0:
        raise ValueError(f"n_passes/n_gates = {passes}, batch = {batch}, median = {median}")
    t = median / (batch * int(passes))
    effective = 2.0 * int(record["bytes_per_amplitude"]) * 2.0**n / t
    measured = record.get("effective_bandwidth_bytes_per_s")
    if measured:      # the bench's own traffic count (controlled passes weighted by what they touch)
        effective = float(measured)
        t = 2.0 * int(record["bytes_per_amplitude"]) * 2.0**n / effective
    return RecordFit(n, str(record.get("dtype")), batch, int(passes), t, effective,
                     effective / bandwidth)


def fit_efficiency(bench: Mapping[str, Any], simulator: str = DEFAULT_SIMULATOR,
                   device: str = "cpu", device_bandwidth: float | None = None,
                   min_state_bytes: float = MIN_MEMORY_BOUND_STATE_BYTES) -> EfficiencyFit:
    """Fit ``eta`` from the bench records of ``simulator`` on ``device`` (module docstring).

    Args:
        bench: the parsed bench JSON (:func:`load_bench`).
        simulator: the ``simulator`` field to select.
        device: ``"cpu"`` or ``"gpu"``.
        device_bandwidth: ``BW_dev`` in B/s; default for ``"cpu"`` is the machine's measured copy
            bandwidth; required for ``"gpu"`` (the profile's peak).
        min_state_bytes: smallest state treated as memory-bound.

    Raises:
        CalibrationError: no bandwidth to compare with, or no usable record (with the reasons).
    """
    if device_bandwidth is None:
        if device != "cpu":
            raise CalibrationError(
                f"device {device!r}: pass the device's peak bandwidth (from its profile)"
            )
        device_bandwidth = bench["machine"].get("copy_bandwidth_bytes_per_s")
        source = "machine.copy_bandwidth_bytes_per_s of the bench file"
    else:
        source = "profile peak bandwidth"
    if not isinstance(device_bandwidth, (int, float)) or not device_bandwidth > 0:
        raise CalibrationError(f"device bandwidth = {device_bandwidth!r}: must be a number > 0 B/s")

    used: list[RecordFit] = []
    skipped: dict[str, int] = {}
    largest_n = None

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for record in bench["records"]:
        if not isinstance(record, dict):
            skip("not an object")
            continue
        if record.get("simulator") != simulator or record.get("device") != device:
            skip("other simulator or device")
            continue
        if record.get("workload") not in FORWARD_WORKLOADS:
            skip(f"workload {record.get('workload')!r} is not a forward pass")
            continue
        if record.get("status") != "ok":
            skip(f"status {record.get('status')!r}")
            continue
        try:
            state = int(record["bytes_per_amplitude"]) * 2.0 ** int(record["n_qubits"])
            largest_n = max(largest_n or 0, int(record["n_qubits"]))
            if state < min_state_bytes:
                skip(f"state below {min_state_bytes / 2**20:g} MiB (cache-resident)")
                continue
            used.append(_record_fit(record, float(device_bandwidth)))
        except (KeyError, TypeError, ValueError) as exc:
            skip(f"malformed record ({exc})")
    if not used:
        raise CalibrationError(
            f"no usable bench record for simulator {simulator!r} on {device!r} "
            f"(largest n seen: {largest_n}; skipped: {skipped or 'none'})"
        )
    etas = [r.eta for r in used]
    return EfficiencyFit(simulator, device, float(device_bandwidth), source,
                         statistics.median(etas), min(etas), max(etas), tuple(used), skipped)


def calibrated_profile(base: Profile, fit: EfficiencyFit, machine: Mapping[str, Any],
                       power: PowerReading | None = None) -> Profile:
    """``base`` with the fitted efficiency; for a CPU also the bench machine's memory and cores.

    Args:
        base: the simulator profile to calibrate (``cpu`` for CPU records, e.g. ``h100`` for GPU).
        fit: the result of :func:`fit_efficiency`.
        machine: the bench file's ``machine`` object.
        power: a measured power per device (RAPL or NVML) replacing the profile's figure
            (:func:`energy.measure.with_measured_power`).
    """
    if base.kind is not Kind.SIMULATOR:
        raise CalibrationError(
            f"profile {base.name!r} is a {base.kind.value} profile, expected a simulator"
        )
    if base.device != fit.device:
        raise CalibrationError(
            f"profile {base.name!r} is a {base.device or 'unstated'} device but the bench rows are "
            f"{fit.device} rows: a fit is never moved across device kinds (pick a {fit.device} profile)"
        )
    where = (f"bench {fit.simulator} on {fit.device}, {len(fit.records)} records, "
             f"eta range {fit.eta_min:.3g}-{fit.eta_max:.3g}")
    profile = base
    if fit.device == "cpu":
        for name, key in (("memory_per_device", "memory_bytes"), ("cores", "cores")):
            value = machine.get(key)
            if isinstance(value, (int, float)) and value > 0:
                profile = profile.with_constant(name, value, source=f"bench machine.{key}", tag="M")
    bandwidth, eta = fit.device_bandwidth, fit.eta
    if eta > 1.0:
        log.warning("fitted efficiency %.3g > 1: %s under-states the sustained bandwidth; "
                    "using eta = 1 and bandwidth %.3g B/s", eta, fit.bandwidth_source,
                    eta * bandwidth)
        bandwidth, eta = eta * bandwidth, 1.0
    profile = (profile
               .with_constant("bandwidth_per_device", bandwidth,
                              source=f"{fit.bandwidth_source} ({where})", tag="M")
               .with_constant("efficiency", eta, source=f"median fitted eta ({where})", tag="M"))
    if fit.simulator in FUSION_BY_SIMULATOR:
        profile = profile.with_constant("fusion_level", FUSION_BY_SIMULATOR[fit.simulator], tag="P",
                                        source=f"the qsim fusion level {fit.simulator} ran the bench at")
    if power is not None:
        try:
            profile = with_measured_power(profile, power)
        except ValueError as exc:
            raise CalibrationError(str(exc)) from None
    return profile.renamed(f"{base.name} (calibrated)",
                           f"{base.description}; eta calibrated from bench")
