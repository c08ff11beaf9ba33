"""Physical units for profile constants.

Every constant in a hardware profile is written with an explicit unit (``value = 80``,
``unit = "GB"``) and converted here to SI base units: bytes, bytes per second, watts, seconds,
or a plain number.  A unit that is unknown, or that belongs to another dimension than the field
expects (``"W"`` for a memory size), raises :class:`UnitError`, so a typo in a profile can never
silently turn gigabytes into bytes.

Decimal prefixes are powers of 1000 (``GB = 1e9 B``), binary prefixes powers of 1024
(``GiB = 2**30 B``), as vendors quote memory and bandwidth in decimal units.
"""

from __future__ import annotations

import enum

__all__ = ["Dimension", "UnitError", "to_si", "UNITS"]


class UnitError(ValueError):
    """A unit string that is unknown or has the wrong dimension."""


class Dimension(enum.Enum):
    """The physical dimension a profile field is measured in (value = SI unit name)."""

    BYTES = "B"
    BANDWIDTH = "B/s"
    POWER = "W"
    TIME = "s"
    NUMBER = "1"


_DECIMAL = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}


def _build_table() -> dict[Dimension, dict[str, float]]:
    size = {f"{p}B": f for p, f in {**_DECIMAL, **_BINARY}.items()}
    return {
        Dimension.BYTES: size,
        Dimension.BANDWIDTH: {f"{u}/s": f for u, f in size.items()},
        Dimension.POWER: {"mW": 1e-3, "W": 1.0, "kW": 1e3, "MW": 1e6},
        Dimension.TIME: {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0,
                         "min": 60.0, "h": 3600.0},
        Dimension.NUMBER: {"1": 1.0, "": 1.0},
    }


#: ``UNITS[dimension][unit] -> factor`` such that ``value * factor`` is in SI base units.
UNITS: dict[Dimension, dict[str, float]] = _build_table()


def to_si(value: float, unit: str, dimension: Dimension) -> float:
    """Convert ``value`` given in ``unit`` to the SI base unit of ``dimension``.

    Args:
        value: the number as written in the profile.
        unit: the unit string, e.g. ``"GB"``, ``"TB/s"``, ``"kW"``, ``"us"``, ``"1"``.
        dimension: the dimension the field must have.

    Returns:
        ``value * UNITS[dimension][unit]``.

    Raises:
        UnitError: the unit is unknown, or belongs to another dimension.
    """
    table = UNITS[dimension]
    if unit in table:
        return float(value) * table[unit]
    for other, other_table in UNITS.items():
        if unit in other_table:
            raise UnitError(
                f"unit {unit!r} is a {other.name.lower()} unit, expected a "
                f"{dimension.name.lower()} unit (one of {sorted(u for u in table if u)})"
            )
    raise UnitError(f"unknown unit {unit!r}: expected one of {sorted(u for u in table if u)}")
