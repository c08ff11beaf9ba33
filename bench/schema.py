"""The benchmark's JSON document: schema ``qhybrid.bench/1``, validation and (atomic) I/O.

The document is described field by field in ``bench/schema.md`` (next to this file), including
the fields the energy module reads for calibration.  :func:`validate` checks a document against
exactly that description and raises :class:`SchemaError` naming the first bad field.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from qsim.atomic import atomic_write_json
from qsim.precision import BYTES_PER_AMPLITUDE

__all__ = [
    "SCHEMA", "STATUSES", "DTYPES", "BYTES_PER_AMPLITUDE", "DEVICES", "ENERGY_COUNTERS",
    "SchemaError", "new_document", "new_record", "validate", "validate_record", "dump", "load", "now_iso",
]

#: Schema identifier written into every document; bump the suffix on any incompatible change.
SCHEMA = "qhybrid.bench/1"
STATUSES = ("ok", "failed", "skipped")
DEVICES = ("cpu", "gpu")
#: Amplitude dtypes (and their size in bytes: :data:`qsim.precision.BYTES_PER_AMPLITUDE`).
DTYPES = tuple(BYTES_PER_AMPLITUDE)

_MACHINE_FIELDS = {
    "cpu_model": str, "cores": int, "memory_bytes": int, "copy_bandwidth_bytes_per_s": float,
    "gpu": (str, type(None)), "packages": dict,
}
_RECORD_FIELDS: dict[str, Any] = {
    "workload": str, "simulator": str, "backend": str, "device": str,
    "n_qubits": int, "batch": int, "layers": int, "dtype": str, "bytes_per_amplitude": int,
    "threads": int, "n_gates": int, "n_passes": (int, type(None)),
    "time_s": dict,
    "effective_bandwidth_bytes_per_s": (float, type(None)), "roofline_fraction": (float, type(None)),
    "status": str, "reason": (str, type(None)), "max_abs_error": (float, type(None)),
    "load_avg": (float, type(None)),
}
#: Record fields added after the first files were written: absent in those (read as null), always
#: written now.  Energy of the timed repeats from the machine's counters (bench/schema.md).
_OPTIONAL_RECORD_FIELDS: dict[str, Any] = {
    "energy_j": (float, type(None)), "power_w": (float, type(None)), "energy_counter": (str, type(None)),
}
#: Counters a record's ``energy_counter`` may name (energy.measure.open_energy_counter).
ENERGY_COUNTERS = ("rapl", "nvml")
_TIME_FIELDS = ("min", "median", "max")


class SchemaError(ValueError):
    """A benchmark document does not follow ``qhybrid.bench/1``."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_document(machine: Mapping[str, Any], records: list[dict], created: str | None = None) -> dict:
    """A complete document (validated)."""
    doc = {"schema": SCHEMA, "created": created or now_iso(), "machine": dict(machine), "records": list(records)}
    validate(doc)
    return doc


def new_record(*, workload: str, simulator: str, backend: str, device: str = "cpu", n_qubits: int,
               batch: int = 1, layers: int = 0, dtype: str, threads: int, n_gates: int = 0,
               n_passes: int | None = None, times: list[float] | None = None,
               effective_bandwidth_bytes_per_s: float | None = None, roofline_fraction: float | None = None,
               status: str = "ok", reason: str | None = None, max_abs_error: float | None = None,
               load_avg: float | None = None, energy_j: float | None = None, power_w: float | None = None,
               energy_counter: str | None = None) -> dict:
    """One record; ``times`` are the measured repeats (``time_s`` is null-valued without them).

    ``energy_j`` is the energy of one run (the counters' increase over the timed repeats divided by
    their number), ``power_w`` the mean power over them, ``energy_counter`` the counter read.
    """
    times = list(times or [])
    if times:
        st = sorted(times)
        mid = len(st) // 2
        median = st[mid] if len(st) % 2 else 0.5 * (st[mid - 1] + st[mid])
        time_s = {"min": float(st[0]), "median": float(median), "max": float(st[-1]), "repeats": len(st)}
    else:
        time_s = {"min": None, "median": None, "max": None, "repeats": 0}
    opt = lambda v: None if v is None else float(v)  # noqa: E731
    rec = {
        "workload": workload, "simulator": simulator, "backend": backend, "device": device,
        "n_qubits": int(n_qubits), "batch": int(batch), "layers": int(layers), "dtype": dtype,
        "bytes_per_amplitude": BYTES_PER_AMPLITUDE.get(dtype, 0), "threads": int(threads),
        "n_gates": int(n_gates), "n_passes": None if n_passes is None else int(n_passes),
        "time_s": time_s,
        "effective_bandwidth_bytes_per_s": opt(effective_bandwidth_bytes_per_s),
        "roofline_fraction": opt(roofline_fraction),
        "status": status, "reason": reason, "max_abs_error": opt(max_abs_error), "load_avg": opt(load_avg),
        "energy_j": opt(energy_j), "power_w": opt(power_w), "energy_counter": energy_counter,
    }
    validate_record(rec)
    return rec


def _type_ok(value: Any, expected: Any) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):
        return bool in types
    if float in types and isinstance(value, int):  # JSON writes 2.0 as 2.0, but accept ints
        return True
    return isinstance(value, types)


def _check_fields(obj: Any, fields: Mapping[str, Any], where: str,
                  optional: Mapping[str, Any] | None = None) -> None:
    if not isinstance(obj, dict):
        raise SchemaError(f"{where} must be an object, got {type(obj).__name__}")
    missing = [k for k in fields if k not in obj]
    if missing:
        raise SchemaError(f"{where} is missing field {missing[0]!r}")
    optional = optional or {}
    extra = [k for k in obj if k not in fields and k not in optional]
    if extra:
        raise SchemaError(f"{where} has unknown field {extra[0]!r}")
    present = {**fields, **{k: t for k, t in optional.items() if k in obj}}
    for key, typ in present.items():
        if not _type_ok(obj[key], typ):
            raise SchemaError(f"{where}.{key} = {obj[key]!r} has the wrong type")
        v = obj[key]
        if isinstance(v, float) and not math.isfinite(v):
            raise SchemaError(f"{where}.{key} = {v!r} is not finite")


def validate_record(rec: Any, where: str = "record") -> None:
    _check_fields(rec, _RECORD_FIELDS, where, _OPTIONAL_RECORD_FIELDS)
    if rec["status"] not in STATUSES:
        raise SchemaError(f"{where}.status = {rec['status']!r} must be one of {STATUSES}")
    if rec["device"] not in DEVICES:
        raise SchemaError(f"{where}.device = {rec['device']!r} must be one of {DEVICES}")
    if rec["dtype"] not in BYTES_PER_AMPLITUDE:
        raise SchemaError(f"{where}.dtype = {rec['dtype']!r} must be one of {DTYPES}")
    if rec["bytes_per_amplitude"] != BYTES_PER_AMPLITUDE[rec["dtype"]]:
        raise SchemaError(f"{where}.bytes_per_amplitude = {rec['bytes_per_amplitude']} does not match "
                          f"dtype {rec['dtype']}")
    for key in ("n_qubits", "batch", "threads"):
        if rec[key] < 1:
            raise SchemaError(f"{where}.{key} = {rec[key]} must be >= 1")
    t = rec["time_s"]
    if not isinstance(t, dict) or set(t) != {"min", "median", "max", "repeats"}:
        raise SchemaError(f"{where}.time_s must have exactly min, median, max, repeats; got {t!r}")
    if not isinstance(t["repeats"], int) or isinstance(t["repeats"], bool) or t["repeats"] < 0:
        raise SchemaError(f"{where}.time_s.repeats = {t['repeats']!r} must be a non-negative integer")
    if rec["status"] == "ok":
        if t["repeats"] < 1:
            raise SchemaError(f"{where}: status ok needs at least one repeat")
        vals = [t[k] for k in _TIME_FIELDS]
        if not all(_type_ok(v, float) and v is not None and math.isfinite(v) and v >= 0 for v in vals):
            raise SchemaError(f"{where}.time_s = {t!r} must hold non-negative numbers")
        if not vals[0] <= vals[1] <= vals[2]:
            raise SchemaError(f"{where}.time_s = {t!r} is not ordered min <= median <= max")
    else:
        if rec["reason"] is None:
            raise SchemaError(f"{where}: status {rec['status']!r} needs a reason")
        if rec.get("energy_j") is not None:
            raise SchemaError(f"{where}: status {rec['status']!r} must not carry energy")
        if t["repeats"] != 0 or any(t[k] is not None for k in _TIME_FIELDS):
            raise SchemaError(f"{where}: status {rec['status']!r} must not carry times (got {t!r})")
    _validate_energy(rec, where)


def _validate_energy(rec: Mapping[str, Any], where: str) -> None:
    """``energy_j`` and ``power_w`` are both null or both > 0, with the counter named."""
    energy, power, counter = (rec.get(k) for k in ("energy_j", "power_w", "energy_counter"))
    if (energy is None) != (power is None) or (energy is None) != (counter is None):
        raise SchemaError(f"{where}: energy_j = {energy!r}, power_w = {power!r}, energy_counter = {counter!r} "
                          "must be all null or all set")
    if energy is None:
        return
    if not energy > 0 or not power > 0:
        raise SchemaError(f"{where}: energy_j = {energy!r}, power_w = {power!r} must be > 0")
    if counter not in ENERGY_COUNTERS:
        raise SchemaError(f"{where}.energy_counter = {counter!r} must be one of {ENERGY_COUNTERS}")


def validate(doc: Any) -> None:
    """Raise :class:`SchemaError` unless ``doc`` follows ``qhybrid.bench/1`` exactly."""
    _check_fields(doc, {"schema": str, "created": str, "machine": dict, "records": list}, "document")
    if doc["schema"] != SCHEMA:
        raise SchemaError(f"document.schema = {doc['schema']!r}, expected {SCHEMA!r}")
    try:
        datetime.fromisoformat(doc["created"])
    except ValueError as exc:
        raise SchemaError(f"document.created = {doc['created']!r} is not an ISO 8601 time") from exc
    _check_fields(doc["machine"], _MACHINE_FIELDS, "machine")
    if doc["machine"]["cores"] < 1:
        raise SchemaError(f"machine.cores = {doc['machine']['cores']} must be >= 1")
    for name, version in doc["machine"]["packages"].items():
        if not isinstance(name, str) or not isinstance(version, str):
            raise SchemaError(f"machine.packages[{name!r}] = {version!r} must map names to version strings")
    for i, rec in enumerate(doc["records"]):
        validate_record(rec, f"records[{i}]")


def dump(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Validate and write ``doc`` atomically as JSON."""
    validate(doc)
    return atomic_write_json(path, doc)


def load(path: str | os.PathLike[str]) -> dict:
    """Read and validate a benchmark document."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{p}: not valid JSON ({exc})") from exc
    try:
        validate(doc)
    except SchemaError as exc:
        raise SchemaError(f"{p}: {exc}") from exc
    return doc
