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

The calibrated profile counts sweeps as the bench's simulator made them, so ``eta`` and ``W``
stay consistent: its fusion level (:data:`FUSION_BY_SIMULATOR`) and its blocking (the Numba
backend's cache-blocked plan keeps the base profile's ``block_cache``: the bench file does not
record the machine's caches; the engines of :data:`UNBLOCKED_SIMULATORS` sweep once per pass,
``block_cache = 0``).

A fit belongs to the device kind of its rows: :func:`calibrated_profile` refuses to put CPU rows
into a GPU profile (or the reverse), which would silently turn an H100 into a 2-core CPU.

**Energy** (:func:`fit_energy`).  Rows measured with an energy counter (``energy_j``: RAPL on a
CPU, NVML on a GPU, read around the timed repeats by ``bench.worker``) give the energy of one run.
The same usable forward rows are fitted to

.. math::

    E_r = e_{byte}\, B_r + P_{static}\, t_r, \qquad
    B_r = BW_{eff,r}\, t_r \ \text{(else } 2\, b\, 2^n\, \mathrm{batch}\, P_r\text{)} ,

joules per byte moved plus static power, by least squares on the relative error (each row
divided by its ``E_r``, so small and large states weigh alike).  The two are separable only when
the rows' effective bandwidths ``B_r / t_r`` differ (thread counts, precisions, cache effects); a
spread below :data:`MIN_BANDWIDTH_SPREAD` is refused.  A negative constant is set to 0 and the
other refitted alone (said in :attr:`EnergyFit.constrained`).  **Validation:** the rows of the
``holdout`` largest ``n`` are left out of the fit and predicted; their relative errors are
reported.  In a calibrated profile the fit becomes ``P_dev = e_byte * eta * BW_dev`` (the draw of
a pass at the sustained bandwidth), ``u = 1`` and ``P_host = P_static``, so that
``(u P_dev + P_host) t_comp = e_byte * bytes + P_static * t_comp``.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from energy.measure import PowerReading, with_measured_power
from energy.profiles import Kind, Profile
from qsim.program import DEFAULT_FUSION, GPU_FUSION

__all__ = [
    "BENCH_SCHEMA",
    "CalibrationError",
    "DEFAULT_SIMULATOR",
    "DEFAULT_HOLDOUT",
    "EfficiencyFit",
    "EnergyFit",
    "EnergyRow",
    "FORWARD_WORKLOADS",
    "MIN_BANDWIDTH_SPREAD",
    "MIN_MEMORY_BOUND_STATE_BYTES",
    "RecordFit",
    "calibrated_profile",
    "fit_efficiency",
    "fit_energy",
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

#: Bench simulators whose engine sweeps the state once per pass (``memory_sweeps`` is
#: ``Program.state_sweeps``: qsim/backends/xp_engine.py): their calibrated profile has no blocking.
UNBLOCKED_SIMULATORS = frozenset({"qhybrid-cupy", "qhybrid-numpy"})

#: Bench workloads whose rows are forward state-vector passes (bench/schema.md, "What the energy
#: module reads"): W1 layered forward, W2 batched forward, G1 one gate application.
FORWARD_WORKLOADS = frozenset({"W1", "W2", "G1"})


#: Distinct largest ``n`` values whose rows are held out of the energy fit and predicted.
DEFAULT_HOLDOUT = 1
#: Smallest ``max / min`` of the fitted rows' effective bandwidths that separates joules per byte
#: from static power (at one bandwidth ``E / t`` is one number: any split fits it).
MIN_BANDWIDTH_SPREAD = 1.05


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


def _usable_rows(bench: Mapping[str, Any], simulator: str, device: str,
                 min_state_bytes: float) -> tuple[list[Mapping[str, Any]], dict[str, int], int | None]:
    """Forward ``ok`` rows of ``simulator`` on ``device`` with a memory-bound state; skip reasons."""
    rows: list[Mapping[str, Any]] = []
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
        except (KeyError, TypeError, ValueError) as exc:
            skip(f"malformed record ({exc})")
            continue
        if state < min_state_bytes:
            skip(f"state below {min_state_bytes / 2**20:g} MiB (cache-resident)")
            continue
        rows.append(record)
    return rows, skipped, largest_n


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

    rows, skipped, largest_n = _usable_rows(bench, simulator, device, min_state_bytes)
    used: list[RecordFit] = []
    for record in rows:
        try:
            used.append(_record_fit(record, float(device_bandwidth)))
        except (KeyError, TypeError, ValueError) as exc:
            skipped[f"malformed record ({exc})"] = skipped.get(f"malformed record ({exc})", 0) + 1
    if not used:
        raise CalibrationError(
            f"no usable bench record for simulator {simulator!r} on {device!r} "
            f"(largest n seen: {largest_n}; skipped: {skipped or 'none'})"
        )
    etas = [r.eta for r in used]
    return EfficiencyFit(simulator, device, float(device_bandwidth), source,
                         statistics.median(etas), min(etas), max(etas), tuple(used), skipped)


@dataclass(frozen=True)
class EnergyRow:
    """One bench row as the energy fit reads it (SI units)."""

    n_qubits: int
    threads: int | None
    dtype: str
    bytes_moved: float
    time_s: float
    energy_j: float

    @property
    def bandwidth(self) -> float:
        """Effective bandwidth ``B / t`` (B/s)."""
        return self.bytes_moved / self.time_s


@dataclass(frozen=True)
class HeldOutRow:
    """A held-out row, predicted by the fit."""

    n_qubits: int
    threads: int | None
    dtype: str
    measured_j: float
    predicted_j: float

    @property
    def relative_error(self) -> float:
        """``(predicted - measured) / measured``."""
        return (self.predicted_j - self.measured_j) / self.measured_j


@dataclass(frozen=True)
class EnergyFit:
    """Result of :func:`fit_energy`: ``E = e_byte B + P_static t`` and its validation.

    Attributes:
        simulator, device: the rows' selection.
        counter: the energy counters the rows were measured with (``"rapl"``, ``"nvml"``).
        joules_per_byte: ``e_byte`` (J/B).
        static_power_w: ``P_static`` (W).
        rows: the rows fitted.
        held_out: the rows of the held-out ``n``, predicted.
        holdout_n: the held-out qubit counts.
        rms_residual: root mean square relative residual of the fitted rows.
        constrained: empty, or which constant was held at 0 (it came out negative).
        skipped: ``{reason: count}`` for rows left out.
    """

    simulator: str
    device: str
    counter: str
    joules_per_byte: float
    static_power_w: float
    rows: tuple[EnergyRow, ...]
    held_out: tuple[HeldOutRow, ...]
    holdout_n: tuple[int, ...]
    rms_residual: float
    constrained: str
    skipped: Mapping[str, int]

    def predict(self, bytes_moved: float, time_s: float) -> float:
        """Energy (J) of a run moving ``bytes_moved`` in ``time_s``."""
        return self.joules_per_byte * bytes_moved + self.static_power_w * time_s

    @property
    def max_holdout_error(self) -> float:
        """Largest ``|relative error|`` of the held-out rows (``NaN`` with none held out)."""
        return max((abs(r.relative_error) for r in self.held_out), default=math.nan)

    @property
    def median_holdout_error(self) -> float:
        """Median ``|relative error|`` of the held-out rows (``NaN`` with none held out)."""
        errors = [abs(r.relative_error) for r in self.held_out]
        return statistics.median(errors) if errors else math.nan

    def summary(self) -> tuple[str, str]:
        """Two lines: the fit, and its validation."""
        ns = sorted({r.n_qubits for r in self.rows})
        bws = [r.bandwidth for r in self.rows]
        fit = (f"energy fit E = e_byte * bytes + P_static * t: e_byte = {self.joules_per_byte:.4g} J/B "
               f"({self.joules_per_byte * 1e9:.3g} nJ/B), P_static = {self.static_power_w:.4g} W; "
               f"{len(self.rows)} {self.counter} rows of {self.simulator} on {self.device}, n {ns[0]}-{ns[-1]}, "
               f"bandwidth {min(bws) / 1e9:.3g}-{max(bws) / 1e9:.3g} GB/s; RMS relative residual "
               f"{self.rms_residual:.2%}" + (f"; {self.constrained}" if self.constrained else ""))
        if not self.held_out:
            return fit, "validation: none (no n held out)"
        held = ", ".join(f"n={r.n_qubits} {r.dtype} t={r.threads}: {r.relative_error:+.1%}" for r in self.held_out)
        check = (f"validation on held-out n = {', '.join(map(str, self.holdout_n))} ({len(self.held_out)} rows, "
                 f"fit without them): relative error median {self.median_holdout_error:.1%}, "
                 f"max {self.max_holdout_error:.1%} [{held}]")
        return fit, check

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["skipped"] = dict(self.skipped)
        out["held_out"] = [{**asdict(r), "relative_error": r.relative_error} for r in self.held_out]
        for key, value in (("max_holdout_error", self.max_holdout_error),
                           ("median_holdout_error", self.median_holdout_error)):
            out[key] = None if math.isnan(value) else value
        return out


def _energy_row(record: Mapping[str, Any]) -> EnergyRow:
    median = float(record["time_s"]["median"])
    energy = float(record["energy_j"])
    if not median > 0 or not energy > 0:
        raise ValueError(f"time_s.median = {median}, energy_j = {energy}")
    measured = record.get("effective_bandwidth_bytes_per_s")
    if measured:
        moved = float(measured) * median
    else:
        passes = record.get("n_passes") or record.get("n_gates")
        if not passes:
            raise ValueError("no effective bandwidth and no n_passes/n_gates")
        moved = 2.0 * int(record["bytes_per_amplitude"]) * 2.0 ** int(record["n_qubits"]) * int(
            record["batch"]) * int(passes)
    threads = record.get("threads")
    return EnergyRow(int(record["n_qubits"]), int(threads) if threads else None, str(record.get("dtype")),
                     moved, median, energy)


def _solve_energy(rows: list[EnergyRow]) -> tuple[float, float, str]:
    """Least squares of ``E = e B + P t`` in relative terms; non-negative (module docstring)."""
    a = np.array([[r.bytes_moved / r.energy_j, r.time_s / r.energy_j] for r in rows])
    ones = np.ones(len(rows))
    (e_byte, p_static), *_ = np.linalg.lstsq(a, ones, rcond=None)
    if e_byte >= 0 and p_static >= 0:
        return float(e_byte), float(p_static), ""
    col = 1 if e_byte < 0 else 0                 # keep the other constant, fit it alone
    x = float(a[:, col] @ ones / (a[:, col] @ a[:, col]))
    if col == 1:
        return 0.0, x, f"joules per byte came out {e_byte:.3g} < 0: held at 0, static power fitted alone"
    return x, 0.0, f"static power came out {p_static:.3g} W < 0: held at 0, joules per byte fitted alone"


def fit_energy(bench: Mapping[str, Any], simulator: str = DEFAULT_SIMULATOR, device: str = "cpu",
               holdout: int = DEFAULT_HOLDOUT,
               min_state_bytes: float = MIN_MEMORY_BOUND_STATE_BYTES) -> EnergyFit:
    """Fit joules per byte and static power to the rows carrying ``energy_j`` (module docstring).

    Args:
        bench: the parsed bench JSON (:func:`load_bench`).
        simulator, device: the rows to use (as :func:`fit_efficiency`: forward, ``ok``, memory-bound).
        holdout: how many of the largest distinct ``n`` to leave out and predict (0: none).
        min_state_bytes: smallest state treated as memory-bound.

    Raises:
        CalibrationError: no rows with energy, too few to fit after the hold-out, or one bandwidth only.
    """
    if isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 0:
        raise CalibrationError(f"energy hold-out = {holdout!r}: must be an integer >= 0")
    records, skipped, _ = _usable_rows(bench, simulator, device, min_state_bytes)
    rows: list[EnergyRow] = []
    counters: set[str] = set()
    for record in records:
        if record.get("energy_j") is None:
            skipped["no energy_j (counter not readable when the bench ran)"] = (
                skipped.get("no energy_j (counter not readable when the bench ran)", 0) + 1)
            continue
        try:
            rows.append(_energy_row(record))
            counters.add(str(record.get("energy_counter") or "unknown"))
        except (KeyError, TypeError, ValueError) as exc:
            skipped[f"malformed record ({exc})"] = skipped.get(f"malformed record ({exc})", 0) + 1
    if not rows:
        raise CalibrationError(f"no usable bench row of {simulator!r} on {device!r} carries energy_j "
                               f"(skipped: {skipped or 'none'})")
    ns = sorted({r.n_qubits for r in rows})
    holdout_n = tuple(ns[len(ns) - holdout:]) if holdout else ()
    fit_rows = [r for r in rows if r.n_qubits not in holdout_n]
    if len(fit_rows) < 2:
        raise CalibrationError(f"energy rows at n = {ns}: holding out the {holdout} largest leaves "
                               f"{len(fit_rows)} row(s); the fit needs 2 (lower --calibrate-holdout)")
    bws = [r.bandwidth for r in fit_rows]
    if max(bws) / min(bws) < MIN_BANDWIDTH_SPREAD:
        raise CalibrationError(
            f"energy rows' effective bandwidth spans only {min(bws) / 1e9:.4g}-{max(bws) / 1e9:.4g} GB/s: "
            "joules per byte and static power cannot be told apart at one bandwidth "
            "(bench more thread counts or both precisions)")
    e_byte, p_static, constrained = _solve_energy(fit_rows)
    if constrained:
        log.warning("energy fit: %s", constrained)
    residuals = [(e_byte * r.bytes_moved + p_static * r.time_s) / r.energy_j - 1.0 for r in fit_rows]
    held = tuple(HeldOutRow(r.n_qubits, r.threads, r.dtype, r.energy_j,
                            e_byte * r.bytes_moved + p_static * r.time_s)
                 for r in rows if r.n_qubits in holdout_n)
    return EnergyFit(simulator, device, "+".join(sorted(counters)), e_byte, p_static, tuple(fit_rows), held,
                     holdout_n, math.sqrt(statistics.fmean(x * x for x in residuals)), constrained, skipped)


def _with_energy_fit(profile: Profile, energy: EnergyFit, sustained_bandwidth: float) -> Profile:
    """Power constants from an energy fit; their range is the fit's relative error (residual or held-out)."""
    spread = max(energy.rms_residual, 0.0 if math.isnan(energy.max_holdout_error) else energy.max_holdout_error)
    where = (f"bench energy fit, {len(energy.rows)} {energy.counter} rows of {energy.simulator}; "
             f"range +-{spread:.1%}: the larger of the RMS residual and the held-out error")
    dynamic = energy.joules_per_byte * sustained_bandwidth
    if not dynamic > 0:
        raise CalibrationError("energy fit gives no dynamic power (joules per byte = 0): the rows cannot "
                               "separate it from static power")
    low = max(1.0 - spread, 1e-3)
    return (profile
            .with_constant("device_power", dynamic, tag="M", low=dynamic * low, high=dynamic * (1.0 + spread),
                           source=f"e_byte {energy.joules_per_byte:.4g} J/B x eta BW {sustained_bandwidth:.4g} B/s "
                                  f"({where})")
            .with_constant("power_utilisation", 1.0, tag="M", source="the fitted draw is the loaded value")
            .with_constant("host_power_per_device", energy.static_power_w, tag="M",
                           low=energy.static_power_w * low, high=energy.static_power_w * (1.0 + spread),
                           source=f"static power {energy.static_power_w:.4g} W ({where})"))


def calibrated_profile(base: Profile, fit: EfficiencyFit, machine: Mapping[str, Any],
                       power: PowerReading | None = None, energy: EnergyFit | None = None) -> Profile:
    """``base`` with the fitted efficiency; for a CPU also the bench machine's memory and cores.

    Args:
        base: the simulator profile to calibrate (``cpu`` for CPU records, e.g. ``h100`` for GPU).
        fit: the result of :func:`fit_efficiency`.
        machine: the bench file's ``machine`` object.
        power: a measured power per device (RAPL or NVML) replacing the profile's figure
            (:func:`energy.measure.with_measured_power`).
        energy: an energy fit of the same rows (:func:`fit_energy`): ``P_dev = e_byte eta BW_dev``,
            ``u = 1``, ``P_host = P_static`` (module docstring); excludes ``power``.
    """
    if power is not None and energy is not None:
        raise CalibrationError("give a measured power or an energy fit, not both")
    if energy is not None and (energy.device, energy.simulator) != (fit.device, fit.simulator):
        raise CalibrationError(f"energy fit of {energy.simulator} on {energy.device} does not match the "
                               f"efficiency fit of {fit.simulator} on {fit.device}")
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
    if fit.simulator in UNBLOCKED_SIMULATORS:
        profile = profile.with_constant("block_cache", 0.0, tag="P",
                                        source=f"{fit.simulator} sweeps once per pass (no cache-blocked plan)")
    elif fit.simulator == DEFAULT_SIMULATOR and profile["block_cache"] <= 0:
        log.warning("%s ran a cache-blocked plan but profile %r has block_cache = 0: the model counts one "
                    "sweep per pass against an eta per plan step", fit.simulator, base.name)
    if power is not None:
        try:
            profile = with_measured_power(profile, power)
        except ValueError as exc:
            raise CalibrationError(str(exc)) from None
    if energy is not None:
        profile = _with_energy_fit(profile, energy, eta * bandwidth)
    return profile.renamed(f"{base.name} (calibrated)",
                           f"{base.description}; eta calibrated from bench")
