"""Validation helpers and JSON round trips for the configuration dataclasses of :mod:`hybrid`.

A config dataclass inherits :class:`JSONConfig` and gets ``to_dict`` / ``from_dict`` /
``to_json`` / ``from_json``; nested configs are listed in its ``_nested`` mapping.  Every check
raises :class:`ValueError` naming the owner, the field and the bad value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["DTYPES", "JSONConfig", "check_choice", "check_float", "check_int", "config_from_dict",
           "read_json_object"]

#: Config dtype names -> torch dtypes.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_int(owner: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{owner}.{name} must be {rng}, got {value!r}")
    return int(value)


def check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_float(owner: str, name: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as a finite ``float`` (``> 0`` when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{owner}.{name} must be a finite{' positive' if positive else ''} number, got {value!r}")
    return value


def read_json_object(path, label: str) -> dict[str, Any]:
    """Parse the JSON object in ``path``; errors start with ``label`` (the file as the user named it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label}: expected a JSON object, got {type(data).__name__}")
    return data


def config_from_dict(cls, data: Mapping[str, Any], nested: Mapping[str, type] | None = None):
    """``cls(**data)`` with unknown keys rejected by name and nested configs built recursively."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys are {sorted(names)}")
    kwargs = dict(data)
    for key, sub in (nested or {}).items():
        if kwargs.get(key) is not None and not isinstance(kwargs[key], sub):
            kwargs[key] = sub.from_dict(kwargs[key])
    return cls(**kwargs)


class JSONConfig:
    """``to_dict`` / ``from_dict`` / ``to_json`` / ``from_json`` for the config dataclasses."""

    _nested: dict[str, type] = {}

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if hasattr(v, "to_dict") else v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return config_from_dict(cls, data, cls._nested)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{cls.__name__} JSON is not valid: {exc}") from None
        return cls.from_dict(data)
