"""Device noise profiles: the TOML reader (``qsim/noise/profiles/*.toml``, every number with its source).

:func:`read_profile` resolves a built-in name or a file, parses and validates it and returns a
:class:`Profile`: the channels the model applies, each with its selectors, and the readout
confusion.  :func:`qsim.noise.load_profile` (``NoiseModel.from_profile``) turns that into a
:class:`~qsim.noise.NoiseModel`; this module stays below :mod:`qsim.noise.models` and knows
nothing of rules' semantics.

Schema (every table may carry a ``source`` string; the built-in files cite one for every
number)::

    name = "my-device"
    [one_qubit]   fidelity = 0.9995   # or error = 5e-4, or p = 7.5e-4 (depolarizing, Pauli form)
    [two_qubit]   fidelity = 0.996    #   two_qubit.channel = "pair" (default) or "each"
    [readout]     error = 0.0039      # or p01 = ..., p10 = ...
    [timing]      one_qubit_gate = 135e-6   two_qubit_gate = 600e-6   (seconds)
    [relaxation]  t1 = 10.0  t2 = 1.0  apply = false   # thermal relaxation during gates
    [[rules]]     channel = "amplitude_damping"  gamma = 1e-4  gates = ["RY"]  wires = [0]

Fidelities are average gate fidelities (as randomized benchmarking reports them) and are
converted to depolarizing ``p`` by :func:`~qsim.noise.channels.depolarizing_from_fidelity`.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import NoiseProfileError
from .channels import (
    Channel, ChannelError, ReadoutConfusion, amplitude_damping, bit_flip, depolarizing, depolarizing_from_fidelity,
    generalized_amplitude_damping, pauli_channel, phase_damping, phase_flip, readout_error, thermal_relaxation,
)

__all__ = ["Profile", "ProfileRule", "read_profile", "available_profiles", "PROFILE_DIR", "CHANNEL_BUILDERS"]

log = logging.getLogger(__name__)

#: Folder of the built-in device profiles.
PROFILE_DIR = Path(__file__).with_name("profiles")

#: Channel name in ``[[rules]]`` -> (builder, required keys, optional keys).
CHANNEL_BUILDERS = {
    "depolarizing": (depolarizing, ("p",), ("num_wires",)),
    "bit_flip": (bit_flip, ("p",), ()),
    "phase_flip": (phase_flip, ("p",), ()),
    "pauli": (pauli_channel, (), ("px", "py", "pz")),
    "amplitude_damping": (amplitude_damping, ("gamma",), ()),
    "generalized_amplitude_damping": (generalized_amplitude_damping, ("gamma", "p"), ()),
    "phase_damping": (phase_damping, ("lam",), ()),
    "thermal_relaxation": (thermal_relaxation, ("t1", "t2", "time"), ("excited_population",)),
}
_TOP_KEYS = {"name", "description", "n_qubits", "one_qubit", "two_qubit", "readout", "timing", "relaxation",
             "rules", "notes"}
_TABLE_KEYS = {
    "one_qubit": {"fidelity", "error", "p", "source"},
    "two_qubit": {"fidelity", "error", "p", "channel", "source"},
    "readout": {"error", "p01", "p10", "source"},
    "timing": {"one_qubit_gate", "two_qubit_gate", "readout", "source"},
    "relaxation": {"t1", "t2", "excited_population", "apply", "source"},
}


@dataclass(frozen=True)
class ProfileRule:
    """One noise rule of a profile: ``channel`` after the gates the selectors pick.

    ``where`` names the file and table, for errors raised when the rule is added to a model.
    """

    channel: Channel
    gates: object = None
    arity: int | None = None
    wires: object = None
    where: str = ""


@dataclass(frozen=True)
class Profile:
    """A parsed, validated profile: its name, rules in file order, and readout confusion."""

    name: str
    path: Path
    rules: tuple[ProfileRule, ...]
    readout: ReadoutConfusion | None


def available_profiles() -> list[str]:
    """Names of the built-in profiles (``ideal``, ``ionq-aria-like``, ``ionq-forte-like``, ...)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _resolve_profile(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        if not p.is_file():
            raise NoiseProfileError(f"noise profile file {str(p)!r} does not exist")
        return p
    builtin = PROFILE_DIR / f"{name_or_path}.toml"
    if not builtin.is_file():
        raise NoiseProfileError(f"unknown noise profile {name_or_path!r}; built-in profiles: {available_profiles()} "
                                "(or give the path of a .toml file)")
    return builtin


def _num(where: str, table: dict, key: str, *, lo: float | None = None, hi: float | None = None,
         required: bool = True, default=None):
    if key not in table:
        if required:
            raise NoiseProfileError(f"{where}: missing key {key!r}")
        return default
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)) and v != math.inf:
        raise NoiseProfileError(f"{where}: {key} = {v!r} is not a number")
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise NoiseProfileError(f"{where}: {key} = {v!r} must lie in [{lo}, {hi}]")
    return v


def _table(where: str, data: dict, key: str) -> dict | None:
    t = data.get(key)
    if t is None:
        return None
    if not isinstance(t, dict):
        raise NoiseProfileError(f"{where}: [{key}] must be a table")
    extra = sorted(set(t) - _TABLE_KEYS[key])
    if extra:
        raise NoiseProfileError(f"{where}: unknown keys {extra} in [{key}] (allowed: {sorted(_TABLE_KEYS[key])})")
    return t


def _gate_error(where: str, t: dict, num_wires: int) -> float:
    """Depolarizing ``p`` from ``fidelity`` (average gate fidelity), ``error`` (= 1 - fidelity) or ``p``."""
    given = [k for k in ("fidelity", "error", "p") if k in t]
    if len(given) != 1:
        raise NoiseProfileError(f"{where}: give exactly one of fidelity / error / p (got {given})")
    k = given[0]
    if k == "p":
        return _num(where, t, "p", lo=0.0, hi=1.0)
    f = _num(where, t, "fidelity", lo=0.0, hi=1.0) if k == "fidelity" else 1.0 - _num(where, t, "error", lo=0.0, hi=1.0)
    try:
        return depolarizing_from_fidelity(f, num_wires)
    except ChannelError as exc:
        raise NoiseProfileError(f"{where}: {exc}") from None


def read_profile(name_or_path: str | Path) -> Profile:
    """Parse and validate a built-in profile name or a TOML file (schema in the module docstring).

    Raises:
        NoiseProfileError: unknown name, missing file, TOML syntax error, unknown keys, or values
            out of range, naming the file and key.
    """
    path = _resolve_profile(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise NoiseProfileError(f"{path}: invalid TOML: {exc}") from None
    where = str(path)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise NoiseProfileError(f"{where}: unknown top-level keys {unknown} (allowed: {sorted(_TOP_KEYS)})")
    rules: list[ProfileRule] = []
    t1q = _table(where, data, "one_qubit")
    if t1q is not None:
        p1 = _gate_error(f"{where} [one_qubit]", t1q, 1)
        if p1:
            rules.append(ProfileRule(depolarizing(p1), arity=1, where=f"{where} [one_qubit]"))
    t2q = _table(where, data, "two_qubit")
    if t2q is not None:
        mode = t2q.get("channel", "pair")
        if mode not in ("pair", "each"):
            raise NoiseProfileError(f"{where} [two_qubit]: channel = {mode!r} must be 'pair' or 'each'")
        p2 = _gate_error(f"{where} [two_qubit]", t2q, 2 if mode == "pair" else 1)
        if p2:
            rules.append(ProfileRule(depolarizing(p2, 2) if mode == "pair" else depolarizing(p2), arity=2,
                                     where=f"{where} [two_qubit]"))
    readout = None
    ro = _table(where, data, "readout")
    if ro is not None:
        w = f"{where} [readout]"
        if "error" in ro:
            e = _num(w, ro, "error", lo=0.0, hi=1.0)
            readout = readout_error(e, e)
        else:
            readout = readout_error(_num(w, ro, "p01", lo=0.0, hi=1.0), _num(w, ro, "p10", lo=0.0, hi=1.0))
    rel = _table(where, data, "relaxation")
    if rel is not None and rel.get("apply", False):
        w = f"{where} [relaxation]"
        tim = _table(where, data, "timing") or {}
        t1 = _num(w, rel, "t1", lo=0.0)
        t2 = _num(w, rel, "t2", lo=0.0)
        pe = _num(w, rel, "excited_population", lo=0.0, hi=1.0, required=False, default=0.0)
        for arity, key in ((1, "one_qubit_gate"), (2, "two_qubit_gate")):
            dt = _num(f"{where} [timing]", tim, key, lo=0.0)
            try:
                rules.append(ProfileRule(thermal_relaxation(t1, t2, dt, pe), arity=arity, where=w))
            except ChannelError as exc:
                raise NoiseProfileError(f"{w}: {exc}") from None
    table_rules = data.get("rules", [])
    if not isinstance(table_rules, list):
        raise NoiseProfileError(f"{where}: [[rules]] must be an array of tables")
    for i, r in enumerate(table_rules):
        rules.append(_profile_rule(f"{where} [[rules]] #{i}", r))
    name = str(data.get("name", path.stem))
    log.debug("read noise profile %s from %s", name, path)
    return Profile(name, path, tuple(rules), readout)


def _profile_rule(where: str, r: dict) -> ProfileRule:
    if not isinstance(r, dict) or "channel" not in r:
        raise NoiseProfileError(f"{where}: a rule needs a 'channel' key")
    kind = r["channel"]
    if kind not in CHANNEL_BUILDERS:
        raise NoiseProfileError(f"{where}: unknown channel {kind!r} (known: {sorted(CHANNEL_BUILDERS)})")
    fn, req, opt = CHANNEL_BUILDERS[kind]
    allowed = set(req) | set(opt) | {"channel", "gates", "arity", "wires", "source"}
    extra = sorted(set(r) - allowed)
    if extra:
        raise NoiseProfileError(f"{where}: unknown keys {extra} for channel {kind!r}")
    kwargs = {k: _num(where, r, k) for k in req}
    for k in opt:
        if k in r:
            kwargs[k] = int(r[k]) if k == "num_wires" else _num(where, r, k)
    try:
        ch = fn(**kwargs)
    except ChannelError as exc:
        raise NoiseProfileError(f"{where}: {exc}") from None
    return ProfileRule(ch, r.get("gates"), r.get("arity"), r.get("wires"), where)
