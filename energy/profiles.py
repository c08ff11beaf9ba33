"""Hardware profiles: the constants of a classical simulator platform or of a QPU, with sources.

A profile is a TOML file (the built-in ones live in ``energy/profiles/*.toml``).  Top-level keys
are ``name``, ``kind`` (``"simulator"`` or ``"qpu"``), ``description`` and, for a QPU,
``schedule`` (``"serial"``: gates run one after another, as in one trapped-ion chain;
``"layered"``: gates of one circuit layer run in parallel, as on superconducting chips).  Every
constant is a table with its value, unit, source and confidence tag::

    [bandwidth_per_device]
    value = 3.35
    low = 3.0
    high = 3.35
    unit = "TB/s"
    tag = "S"
    source = "NVIDIA H100 SXM5 spec, via https://awesomeagents.ai/hardware/nvidia-h100"

``low`` and ``high`` (same unit, optional, default ``value``) bound the constant as its sources
allow; :mod:`energy.uncertainty` samples inside them.  A simulator profile may name its
``device`` (``"cpu"`` or ``"gpu"``): calibration never moves a fit from one kind to the other.

Tags follow ``shared/design/energy-anchors.md``: ``P`` primary source, ``S`` secondary,
``D`` derived from sourced numbers, ``M`` measured, ``A`` assumption, and ``C`` calibrated
(chosen so that the model reproduces a published result; see :mod:`energy.presets`).

Validation rejects, with a :class:`EnergyProfileError` naming the file, the field and the value:
a missing required field, an unknown field (a typo), a missing ``source``, an unknown tag, an
unknown unit or a unit of the wrong dimension, values outside the field's range (negative
power, zero bandwidth, an efficiency above 1, a non-integer device count, ...), and a range
``[low, high]`` that does not contain the value.  Optional fields
take the documented default of :data:`SIMULATOR_FIELDS` / :data:`QPU_FIELDS`; the built-in
profiles write every field out so that each carries its own source.
"""

from __future__ import annotations

import enum
import math
import tomllib
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from energy.units import Dimension, UnitError, to_si

__all__ = [
    "Bound",
    "Constant",
    "FieldSpec",
    "Kind",
    "Profile",
    "EnergyProfileError",
    "QPU_FIELDS",
    "DEVICE_KINDS",
    "Schedule",
    "SIMULATOR_FIELDS",
    "TAGS",
    "builtin_profile_names",
    "load_profile",
    "parse_profile",
]

#: Confidence tags a constant may carry (see the module docstring).
TAGS = {
    "P": "primary source",
    "S": "secondary source",
    "D": "derived from sourced numbers",
    "M": "measured",
    "A": "assumption",
    "C": "calibrated to a published result",
}

#: Device kinds a simulator profile may name (top-level ``device``); a bench record's ``device``.
DEVICE_KINDS = ("cpu", "gpu")

#: Where the built-in profile files live, inside the ``energy`` package.
BUILTIN_DIR = "profiles"


class EnergyProfileError(ValueError):
    """A profile file or override that is missing a field or holds a nonsensical value (named apart
    from qsim's noise-profile error)."""


class Kind(str, enum.Enum):
    """What a profile describes."""

    SIMULATOR = "simulator"
    QPU = "qpu"


class Schedule(str, enum.Enum):
    """How a QPU executes the gates of one shot."""

    SERIAL = "serial"
    LAYERED = "layered"


class Bound(enum.Enum):
    """Admissible range of a constant: ``(lower, lower_inclusive, upper)``."""

    POSITIVE = (0.0, False, math.inf)
    NON_NEGATIVE = (0.0, True, math.inf)
    FRACTION = (0.0, False, 1.0)
    UNIT_INTERVAL = (0.0, True, 1.0)
    AT_LEAST_ONE = (1.0, True, math.inf)
    FUSION_LEVEL = (0.0, True, 2.0)

    def check(self, value: float) -> str | None:
        """Return why ``value`` is out of range, or ``None`` when it is admissible."""
        lower, inclusive, upper = self.value
        if not math.isfinite(value):
            return "must be a finite number"
        if value < lower or (value == lower and not inclusive):
            return f"must be {'>=' if inclusive else '>'} {lower:g}"
        if value > upper:
            return f"must be <= {upper:g}"
        return None

    def clip(self, value: float) -> float:
        """Clamp ``value`` into the range (the sensitivity table doubles fractions)."""
        lower, _, upper = self.value
        return min(max(value, lower), upper)


@dataclass(frozen=True)
class FieldSpec:
    """Schema of one profile constant.

    Attributes:
        name: the TOML table name.
        dimension: the physical dimension; the unit must belong to it.
        bound: the admissible range.
        doc: one-line meaning, used in error messages, ``--list-profiles`` and the docs.
        default: SI value used when the field is absent; ``None`` makes the field required.
        integer: the value must be a whole number (device and qubit counts).
    """

    name: str
    dimension: Dimension
    bound: Bound
    doc: str
    default: float | None = None
    integer: bool = False


_B, _BW, _W, _S, _N = (Dimension.BYTES, Dimension.BANDWIDTH, Dimension.POWER, Dimension.TIME,
                       Dimension.NUMBER)

#: Constants of a classical statevector-simulation platform (see :mod:`energy.simulation`).
SIMULATOR_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("memory_per_device", _B, Bound.POSITIVE, "memory of one device M_dev"),
    FieldSpec("usable_memory_fraction", _N, Bound.FRACTION,
              "fraction u_mem of M_dev the state may occupy", 0.9),
    FieldSpec("bandwidth_per_device", _BW, Bound.POSITIVE, "peak memory bandwidth BW_dev"),
    FieldSpec("efficiency", _N, Bound.FRACTION, "sustained / peak bandwidth eta of a gate pass"),
    FieldSpec("device_power", _W, Bound.POSITIVE, "board power (TDP) P_dev of one device"),
    FieldSpec("power_utilisation", _N, Bound.FRACTION,
              "fraction u of P_dev drawn by a memory-bound kernel", 1.0),
    FieldSpec("host_power_per_device", _W, Bound.NON_NEGATIVE,
              "host (CPU, DRAM, NIC, fans) power share P_host per device", 0.0),
    FieldSpec("kernel_launch", _S, Bound.NON_NEGATIVE,
              "fixed cost t_launch of one pass (kernel launch, Python dispatch)", 0.0),
    FieldSpec("fusion_factor", _N, Bound.AT_LEAST_ONE,
              "gates per state pass f, for circuits without a gate list (no qsim lowering)", 1.0),
    FieldSpec("fusion_level", _N, Bound.FUSION_LEVEL,
              "qsim fusion level (0, 1, 2) the passes are lowered at (qsim.program.lower)", 1.0,
              integer=True),
    FieldSpec("block_cache", _B, Bound.NON_NEGATIVE,
              "cache a block of qsim's cache-blocked plan is sized to (a core's L2 share); "
              "0: one sweep per pass, no blocking (energy.lowering)", 0.0),
    FieldSpec("comm_power_utilisation", _N, Bound.FRACTION,
              "fraction of P_dev drawn while waiting on an exchange", 1.0),
    FieldSpec("comm_overlap", _N, Bound.UNIT_INTERVAL,
              "fraction o of the exchange time hidden behind gate passes (at most the compute time)", 0.0),
    FieldSpec("devices_per_node", _N, Bound.AT_LEAST_ONE,
              "devices sharing the fast intra-node link", 1.0, integer=True),
    FieldSpec("max_devices", _N, Bound.AT_LEAST_ONE,
              "most devices the platform offers (memory wall beyond)", integer=True),
    FieldSpec("intra_node_bandwidth", _BW, Bound.POSITIVE,
              "per-device link bandwidth inside a node (NVLink, Infinity Fabric)"),
    FieldSpec("inter_node_bandwidth", _BW, Bound.POSITIVE,
              "per-device network bandwidth between nodes"),
    FieldSpec("pue", _N, Bound.AT_LEAST_ONE, "facility power usage effectiveness", 1.0),
    FieldSpec("cores", _N, Bound.AT_LEAST_ONE,
              "CPU cores the power figure refers to (scaled by --measure-cpu)", 1.0, integer=True),
)

#: Constants of a QPU (see :mod:`energy.qpu`).
QPU_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("max_qubits", _N, Bound.AT_LEAST_ONE, "qubits of the device", integer=True),
    FieldSpec("t_1q", _S, Bound.POSITIVE, "duration of a single-qubit gate"),
    FieldSpec("t_2q", _S, Bound.POSITIVE, "duration of a two-qubit gate"),
    FieldSpec("t_readout", _S, Bound.NON_NEGATIVE, "measurement (detection) time per shot"),
    FieldSpec("t_prep", _S, Bound.NON_NEGATIVE,
              "state preparation per shot: cooling, reset, initialisation"),
    FieldSpec("t_shot_overhead", _S, Bound.NON_NEGATIVE,
              "further wall time per shot (control-system latency, repetition delay)", 0.0),
    FieldSpec("t_job", _S, Bound.NON_NEGATIVE,
              "per-circuit overhead (compile, upload, calibration check)", 0.0),
    FieldSpec("system_power", _W, Bound.POSITIVE, "whole-system power P_0 while running"),
    FieldSpec("power_per_qubit", _W, Bound.NON_NEGATIVE,
              "additional power p_q per qubit in use (lasers, RF, amplifiers)", 0.0),
    FieldSpec("control_power", _W, Bound.NON_NEGATIVE,
              "classical control computers drawn while the QPU works", 0.0),
    FieldSpec("fidelity_1q", _N, Bound.FRACTION, "single-qubit gate fidelity f1", 1.0),
    FieldSpec("fidelity_2q", _N, Bound.FRACTION, "two-qubit gate fidelity f2", 1.0),
    FieldSpec("fidelity_spam", _N, Bound.FRACTION,
              "state preparation and measurement fidelity per qubit f_spam", 1.0),
    FieldSpec("pue", _N, Bound.AT_LEAST_ONE, "facility power usage effectiveness", 1.0),
)

FIELDS: dict[Kind, dict[str, FieldSpec]] = {
    Kind.SIMULATOR: {f.name: f for f in SIMULATOR_FIELDS},
    Kind.QPU: {f.name: f for f in QPU_FIELDS},
}

_TOP_LEVEL = {"name", "kind", "description", "schedule", "device"}
_CONSTANT_KEYS = {"value", "low", "high", "unit", "source", "tag", "note"}


@dataclass(frozen=True)
class Constant:
    """One profile constant with its provenance.

    Attributes:
        value: the value in SI base units (B, B/s, W, s or a plain number).
        given: the value as written in the profile, in ``unit``.
        unit: the unit it was written in.
        source: where the number comes from (URL, paper, measurement, or the assumption made).
        tag: confidence tag, one of :data:`TAGS`.
        low, high: the range (SI) the sources allow; ``None`` means the value itself.
    """

    value: float
    given: float
    unit: str
    source: str
    tag: str
    low: float | None = None
    high: float | None = None

    @property
    def range(self) -> tuple[float, float]:
        """``(low, high)`` in SI units (the value itself when no range was given)."""
        return (self.value if self.low is None else self.low,
                self.value if self.high is None else self.high)

    @property
    def uncertain(self) -> bool:
        """The range is wider than the value."""
        low, high = self.range
        return low < high

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        low, high = self.range
        return {"value_si": self.value, "value": self.given, "unit": self.unit,
                "low_si": low, "high_si": high, "source": self.source, "tag": self.tag}


@dataclass(frozen=True)
class Profile:
    """A validated hardware profile.  Read constants in SI units with ``profile["name"]``.

    Attributes:
        name: short name (``"h100"``, ``"ionq-forte"``).
        kind: simulator platform or QPU.
        description: one line for tables and legends.
        constants: every field of the kind's schema, defaults filled in.
        schedule: for a QPU, serial or layered gate execution; ``None`` for simulators.
        origin: the file it was read from, for error messages.
        device: for a simulator, ``"cpu"`` or ``"gpu"`` (``None``: not stated).
    """

    name: str
    kind: Kind
    description: str
    constants: Mapping[str, Constant]
    schedule: Schedule | None = None
    origin: str = "<memory>"
    device: str | None = None

    def __getitem__(self, name: str) -> float:
        try:
            return self.constants[name].value
        except KeyError:
            raise KeyError(
                f"profile {self.name!r} ({self.kind.value}) has no constant {name!r}"
            ) from None

    def with_constant(self, name: str, value: float, *, source: str, tag: str = "A",
                      low: float | None = None, high: float | None = None) -> Profile:
        """Return a copy with constant ``name`` set to ``value`` (SI units), validated.

        The unit written in the copy is the SI unit; ``source`` and ``tag`` record why it changed.
        The range is ``[low, high]`` when given, else the value alone (a changed value drops the
        old range: it described another number).
        """
        spec = _spec(self.kind, name, self.origin)
        _check_value(spec, value, self.origin)
        for bound in (low, high):
            if bound is not None:
                _check_value(spec, bound, self.origin)
        _check_range(spec, value, low, high, self.origin)
        constants = dict(self.constants)
        constants[name] = Constant(float(value), float(value), spec.dimension.value, source,
                                   _tag(tag, spec, self.origin), low, high)
        return replace(self, constants=MappingProxyType(constants))

    def with_values(self, values: Mapping[str, float]) -> Profile:
        """Copy with several constants replaced (SI), keeping sources and tags: a Monte Carlo draw."""
        constants = dict(self.constants)
        for name, value in values.items():
            old = constants[name]
            constants[name] = replace(old, value=float(value), given=float(value),
                                      unit=FIELDS[self.kind][name].dimension.value)
        return replace(self, constants=MappingProxyType(constants))

    def renamed(self, name: str, description: str | None = None) -> Profile:
        """Return a copy under another name (e.g. ``"cpu (measured)"``)."""
        return replace(self, name=name, description=description or self.description)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, constants with their sources."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "description": self.description,
            "schedule": self.schedule.value if self.schedule else None,
            "origin": self.origin,
            "device": self.device,
            "constants": {k: c.to_dict() for k, c in self.constants.items()},
        }


def _spec(kind: Kind, name: str, origin: str) -> FieldSpec:
    try:
        return FIELDS[kind][name]
    except KeyError:
        raise EnergyProfileError(
            f"profile {origin!r}: unknown field {name!r} for a {kind.value} profile "
            f"(expected one of {sorted(FIELDS[kind])})"
        ) from None


def _check_value(spec: FieldSpec, value: float, origin: str, shown: Any = None) -> None:
    shown = f"{value:g}" if shown is None else shown
    why = spec.bound.check(value)
    if why is None and spec.integer and value != int(value):
        why = "must be a whole number"
    if why is not None:
        raise EnergyProfileError(f"profile {origin!r} field {spec.name!r} = {shown}: {why} ({spec.doc})")


def _check_range(spec: FieldSpec, value: float, low: float | None, high: float | None,
                 origin: str) -> None:
    lo = value if low is None else low
    hi = value if high is None else high
    if not lo <= value <= hi:
        raise EnergyProfileError(f"profile {origin!r} field {spec.name!r}: range [{lo:g}, {hi:g}] (SI) "
                                 f"must contain the value {value:g}")


def _tag(tag: Any, spec: FieldSpec, origin: str) -> str:
    if tag not in TAGS:
        raise EnergyProfileError(
            f"profile {origin!r} field {spec.name!r}: tag {tag!r} is not one of {sorted(TAGS)}"
        )
    return str(tag)


def _parse_constant(spec: FieldSpec, raw: Any, origin: str) -> Constant:
    where = f"profile {origin!r} field {spec.name!r}"
    if not isinstance(raw, dict):
        raise EnergyProfileError(f"{where} = {raw!r}: must be a table with value, unit, source and tag")
    extra = set(raw) - _CONSTANT_KEYS
    if extra:
        raise EnergyProfileError(
            f"{where}: unknown key(s) {sorted(extra)} (allowed: {sorted(_CONSTANT_KEYS)})"
        )
    for key in ("value", "unit", "source"):
        if key not in raw:
            raise EnergyProfileError(f"{where}: missing {key!r}")
    given = raw["value"]
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        raise EnergyProfileError(f"{where} = {given!r}: must be a number")
    source = raw["source"]
    if not isinstance(source, str) or not source.strip():
        raise EnergyProfileError(f"{where}: 'source' must be a non-empty string")
    try:
        value = to_si(given, str(raw["unit"]), spec.dimension)
    except UnitError as exc:
        raise EnergyProfileError(f"{where} = {given} {raw['unit']}: {exc}") from None
    unit = str(raw["unit"])
    _check_value(spec, value, origin, shown=f"{given} {unit}" if unit not in ("", "1") else given)
    tag = _tag(raw.get("tag", "A"), spec, origin)
    bounds: list[float | None] = []
    for key in ("low", "high"):
        if key not in raw:
            bounds.append(None)
            continue
        bound = raw[key]
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise EnergyProfileError(f"{where} {key} = {bound!r}: must be a number")
        bound_si = to_si(bound, unit, spec.dimension)
        _check_value(spec, bound_si, origin, shown=f"{key} {bound} {unit}")
        bounds.append(bound_si)
    _check_range(spec, value, bounds[0], bounds[1], origin)
    return Constant(value, float(given), unit, source.strip(), tag, bounds[0], bounds[1])


def parse_profile(data: Mapping[str, Any], origin: str = "<memory>") -> Profile:
    """Validate a parsed TOML mapping and build a :class:`Profile`.

    Raises:
        EnergyProfileError: anything missing, unknown or out of range (the message names the field).
    """
    for key in ("name", "kind"):
        if key not in data:
            raise EnergyProfileError(f"profile {origin!r}: missing top-level key {key!r}")
    try:
        kind = Kind(data["kind"])
    except ValueError:
        raise EnergyProfileError(
            f"profile {origin!r} field 'kind' = {data['kind']!r}: "
            f"must be one of {[k.value for k in Kind]}"
        ) from None
    schedule: Schedule | None = None
    if kind is Kind.QPU:
        if "schedule" not in data:
            raise EnergyProfileError(
                f"profile {origin!r}: missing top-level key 'schedule' (serial or layered)"
            )
        try:
            schedule = Schedule(data["schedule"])
        except ValueError:
            raise EnergyProfileError(
                f"profile {origin!r} field 'schedule' = {data['schedule']!r}: "
                f"must be one of {[s.value for s in Schedule]}"
            ) from None
    elif "schedule" in data:
        raise EnergyProfileError(f"profile {origin!r}: 'schedule' applies to qpu profiles only")
    device = data.get("device")
    if device is not None and (kind is not Kind.SIMULATOR or device not in DEVICE_KINDS):
        raise EnergyProfileError(f"profile {origin!r} field 'device' = {device!r}: "
                                 f"simulator profiles only, one of {list(DEVICE_KINDS)}")

    constants: dict[str, Constant] = {}
    for key, raw in data.items():
        if key in _TOP_LEVEL:
            continue
        constants[key] = _parse_constant(_spec(kind, key, origin), raw, origin)
    for spec in FIELDS[kind].values():
        if spec.name in constants:
            continue
        if spec.default is None:
            raise EnergyProfileError(
                f"profile {origin!r}: missing required field {spec.name!r} ({spec.doc})"
            )
        constants[spec.name] = Constant(spec.default, spec.default, spec.dimension.value,
                                        "schema default (energy.profiles)", "A")
    ordered = {spec.name: constants[spec.name] for spec in FIELDS[kind].values()}
    return Profile(
        name=str(data["name"]),
        kind=kind,
        description=str(data.get("description", "")),
        constants=MappingProxyType(ordered),
        schedule=schedule,
        origin=origin,
        device=device,
    )


def _builtin_dir() -> Path:
    return Path(__file__).resolve().parent / BUILTIN_DIR


def builtin_profile_names() -> list[str]:
    """Names of the profiles shipped in ``energy/profiles/*.toml``, sorted."""
    return sorted(p.stem for p in _builtin_dir().glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by name (``"h100"``) or a user profile from a TOML file.

    Raises:
        EnergyProfileError: unknown name, unreadable file, invalid TOML or invalid contents.
    """
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.exists():
        origin = path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise EnergyProfileError(f"profile {text!r}: cannot read ({exc.strerror})") from None
    else:
        entry = _builtin_dir().joinpath(f"{text}.toml")
        if not entry.is_file():
            raise EnergyProfileError(
                f"unknown profile {text!r}: "
                f"expected one of {builtin_profile_names()} or a .toml file"
            )
        origin = f"{text}.toml"
        raw = entry.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EnergyProfileError(f"profile {origin!r}: invalid TOML ({exc})") from None
    return parse_profile(data, origin)


def __getattr__(name: str) -> Any:
    """``ProfileError``: the former name of :class:`EnergyProfileError` (deprecated alias)."""
    if name == "ProfileError":
        warnings.warn("energy.profiles.ProfileError was renamed EnergyProfileError (qsim.noise has its own "
                      "ProfileError); the old name will be removed", DeprecationWarning, stacklevel=2)
        return EnergyProfileError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
