r"""Uncertainty of the cross-over: interpolated ``n*``, Monte Carlo over the constants' ranges, ranking.

**Interpolated cross-over.**  With ``r(n) = ln E_qpu(n) - ln E_sim(n)`` on the integer grid, the
first ``n_i`` with ``r(n_i) <= 0`` brackets the root with ``n_{i-1}``; linear interpolation of the
log-energy gap gives

.. math::  n^* = n_{i-1} + \frac{r(n_{i-1})}{r(n_{i-1}) - r(n_i)} ,

a real number (``E_sim`` grows by a factor ~2 per qubit, so ``ln E`` is close to linear between
grid points).  If ``r(n_min) <= 0`` the cross-over lies at or below the range (``n* = n_min``,
*censored*); if ``r > 0`` everywhere there is none in range (``NaN``).

**Monte Carlo.**  Every constant has a range ``[low, high]`` from its sources (profile files).  A
draw takes each uncertain constant independently: log-uniform when ``low > 0`` (scale constants:
powers, times, bandwidths; the ranges span up to 20x), uniform otherwise; fidelities through their
infidelity ``1 - f``, log-uniform.  All draws are evaluated at once with the NumPy forms of the
models (:func:`energy.simulation.simulation_energy_arrays`, :func:`energy.qpu.qpu_energy_arrays`);
a seeded :class:`numpy.random.Generator` makes the interval reproducible.  The interval is the
central :data:`INTERVAL` quantile range of ``n*``; draws without a cross-over in range count
against it (reported as a fraction).

**Ranking** (``--sensitivity``): each uncertain constant set to its ``low`` and to its ``high``,
all others at their values; the effect is ``n*(high) - n*(low)`` on the interpolated ``n*``, so
constants that move it by a fraction of a qubit are seen, not hidden by rounding.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from energy.crossover import Scenario
from energy.lowering import Work, circuit_work
from energy.profiles import Constant, Profile
from energy.qpu import qpu_energy_arrays
from energy.simulation import blocking, simulation_energy_arrays

__all__ = [
    "DEFAULT_DRAWS",
    "DEFAULT_SEED",
    "Effect",
    "INTERVAL",
    "NStarInterval",
    "energy_grid",
    "interpolated_n_star",
    "n_star_interval",
    "nominal_n_star",
    "rank_constants",
    "sample_profile",
    "Sweep",
    "energy_bands",
    "sweep_shots_layers",
]

#: Monte Carlo draws: the 5 % / 95 % quantiles of 2,000 draws move by less than 0.1 qubit between seeds.
DEFAULT_DRAWS = 2000
#: Seed of the default generator (results are reproducible run to run).
DEFAULT_SEED = 14
#: Central probability of the reported interval (5 % to 95 %).
INTERVAL = 0.9


def _is_fidelity(name: str) -> bool:
    return name.startswith("fidelity_")


def _draw(name: str, constant: Constant, u: np.ndarray) -> np.ndarray:
    """Map uniform ``u`` in [0, 1) onto the constant's range (module docstring)."""
    low, high = constant.range
    if _is_fidelity(name):
        e_low, e_high = 1.0 - high, 1.0 - low
        if e_low > 0.0:
            return 1.0 - np.exp(np.log(e_low) + u * (np.log(e_high) - np.log(e_low)))
        return 1.0 - (e_low + u * (e_high - e_low))
    if low > 0.0:
        return np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
    return low + u * (high - low)


def sample_profile(profile: Profile, draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``{constant: array of draws}`` (SI) over each constant's range; fixed constants repeat their value."""
    out = {}
    for name, constant in profile.constants.items():
        if constant.uncertain:
            out[name] = _draw(name, constant, rng.random(draws))
        else:
            out[name] = np.full(draws, constant.value)
    return out


def _nominal(profile: Profile, size: int) -> dict[str, np.ndarray]:
    return {name: np.full(size, c.value) for name, c in profile.constants.items()}


def _work(scenario: Scenario, n: int, fusion_factor: np.ndarray) -> tuple[Any, Work]:
    spec = scenario.circuit(n)
    level = int(scenario.simulator["fusion_level"])
    work = circuit_work(scenario.circuit, spec, level, float(fusion_factor[0]),
                        blocking(scenario.simulator, scenario.precision, scenario.batch))
    if work.method.startswith("no gate list"):  # passes depend on the sampled fusion factor
        passes = np.ceil(spec.n_gates / fusion_factor) + (work.passes - math.ceil(spec.n_gates / fusion_factor[0]))
        work = Work(passes, passes, work.method)
    return spec, work


def energy_grid(scenario: Scenario, ns: Sequence[int], sim: dict[str, np.ndarray],
                qpu: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``E_sim`` and ``E_qpu`` of shape ``(len(ns), draws)`` for the constant arrays ``sim`` / ``qpu``."""
    e_sim, e_qpu = [], []
    for n in ns:
        spec, work = _work(scenario, n, sim["fusion_factor"])
        e_sim.append(simulation_energy_arrays(spec, work, sim, scenario.precision, scenario.batch,
                                              scenario.circuit)["energy"])
        e_qpu.append(qpu_energy_arrays(spec, scenario.qpu.schedule, qpu, scenario.shots,
                                       scenario.noise_aware)["energy"])
    return np.asarray(e_sim, float), np.asarray(e_qpu, float)


def interpolated_n_star(ns: Sequence[int], e_sim: np.ndarray, e_qpu: np.ndarray) -> np.ndarray:
    """Interpolated cross-over per column (module docstring); ``NaN`` where none is in range."""
    grid = np.asarray(ns, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(e_qpu) - np.log(e_sim)
    crossed = r <= 0.0
    any_crossed = crossed.any(axis=0)
    first = np.argmax(crossed, axis=0)
    prev = np.maximum(first - 1, 0)
    cols = np.arange(r.shape[1])
    r0, r1 = r[prev, cols], r[first, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(np.isfinite(r0) & np.isfinite(r1) & (r0 != r1), r0 / (r0 - r1), 1.0)
    star = np.where(first == 0, grid[0], grid[prev] + np.clip(frac, 0.0, 1.0) * (grid[first] - grid[prev]))
    return np.where(any_crossed, star, np.nan)


def nominal_n_star(scenario: Scenario, n_min: int, n_max: int) -> float:
    """Interpolated ``n*`` at the profiles' values (``NaN``: none in range)."""
    ns = range(n_min, n_max + 1)
    e_sim, e_qpu = energy_grid(scenario, ns, _nominal(scenario.simulator, 1), _nominal(scenario.qpu, 1))
    return float(interpolated_n_star(ns, e_sim, e_qpu)[0])


@dataclass(frozen=True)
class NStarInterval:
    """Monte Carlo result for one scenario.

    Attributes:
        nominal: interpolated ``n*`` at the profiles' values (``NaN``: none in range).
        median, low, high: median and central :data:`INTERVAL` range of ``n*`` over the draws
            (``NaN`` when most draws have no cross-over in range).
        draws, seed: the Monte Carlo size and seed.
        no_crossover: fraction of draws without a cross-over in range (counted as above the range).
        censored: fraction of draws crossing at or below the range's lower end.
        n_range: the scanned qubit range.
    """

    nominal: float
    median: float
    low: float
    high: float
    draws: int
    seed: int
    no_crossover: float
    censored: float
    n_range: tuple[int, int]

    def text(self) -> str:
        """``n* = 36.2 [34.9, 38.0]`` with notes."""
        def f(x: float) -> str:
            return "none" if math.isnan(x) else f"{x:.1f}"
        parts = [f"n* = {f(self.nominal)} [{f(self.low)}, {f(self.high)}] ({INTERVAL:.0%} of {self.draws} draws)"]
        if self.no_crossover:
            parts.append(f"{self.no_crossover:.0%} of draws: no cross-over up to n = {self.n_range[1]}")
        if self.censored:
            parts.append(f"{self.censored:.0%} at or below n = {self.n_range[0]}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``NaN`` as ``None``)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def n_star_interval(scenario: Scenario, n_min: int, n_max: int, draws: int = DEFAULT_DRAWS,
                    seed: int = DEFAULT_SEED) -> NStarInterval:
    """Monte Carlo interval of the interpolated ``n*`` (module docstring)."""
    if draws < 1:
        raise ValueError(f"draws = {draws}: must be >= 1")
    rng = np.random.default_rng(seed)
    ns = range(n_min, n_max + 1)
    sim, qpu = sample_profile(scenario.simulator, draws, rng), sample_profile(scenario.qpu, draws, rng)
    stars = interpolated_n_star(ns, *energy_grid(scenario, ns, sim, qpu))
    none = np.isnan(stars)
    ranked = np.where(none, np.inf, stars)  # no cross-over in range: above every value in range
    tail = (1.0 - INTERVAL) / 2.0
    q = np.quantile(ranked, [tail, 0.5, 1.0 - tail], method="inverted_cdf")  # no interpolation with inf
    low, median, high = (float(x) if math.isfinite(x) else math.nan for x in q)
    return NStarInterval(nominal_n_star(scenario, n_min, n_max), median, low, high, draws, seed,
                         float(none.mean()), float((stars == n_min).mean()), (n_min, n_max))


@dataclass(frozen=True)
class Effect:
    """One constant at the ends of its range and the interpolated ``n*`` there."""

    side: str
    name: str
    value: float
    low: float
    high: float
    n_star_low: float
    n_star_high: float

    @property
    def shift(self) -> float:
        """``n*(high) - n*(low)`` (``inf`` when one end has no cross-over in range)."""
        if math.isnan(self.n_star_low) and math.isnan(self.n_star_high):
            return 0.0
        if math.isnan(self.n_star_low) or math.isnan(self.n_star_high):
            return math.inf
        return self.n_star_high - self.n_star_low

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["shift"] = self.shift
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def rank_constants(scenario: Scenario, n_min: int, n_max: int) -> tuple[float, list[Effect]]:
    """Nominal interpolated ``n*`` and every uncertain constant's effect, largest ``|shift|`` first."""
    entries = [(side, name, c) for side, profile in (("simulator", scenario.simulator), ("qpu", scenario.qpu))
               for name, c in profile.constants.items() if c.uncertain]
    size = 1 + 2 * len(entries)
    sim, qpu = _nominal(scenario.simulator, size), _nominal(scenario.qpu, size)
    for i, (side, name, c) in enumerate(entries):
        target = sim if side == "simulator" else qpu
        target[name][1 + 2 * i], target[name][2 + 2 * i] = c.range
    ns = range(n_min, n_max + 1)
    stars = interpolated_n_star(ns, *energy_grid(scenario, ns, sim, qpu))
    effects = [Effect(side, name, c.value, c.range[0], c.range[1], float(stars[1 + 2 * i]),
                      float(stars[2 + 2 * i])) for i, (side, name, c) in enumerate(entries)]
    effects.sort(key=lambda e: (-abs(e.shift), e.side, e.name))
    return float(stars[0]), effects


@dataclass(frozen=True)
class Sweep:
    """``n*`` intervals over shots per inference (rows) and circuit layers (columns) for one pair.

    Attributes:
        simulator, qpu: the pair.
        shots, layers: the swept values.
        cells: ``cells[i][j]`` is the interval at ``shots[i]``, ``layers[j]``.
    """

    simulator: str
    qpu: str
    shots: tuple[int, ...]
    layers: tuple[int, ...]
    cells: tuple[tuple[NStarInterval, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"simulator": self.simulator, "qpu": self.qpu, "shots": list(self.shots),
                "layers": list(self.layers),
                "cells": [[{"shots": s, "layers": layer, **c.to_dict()} for layer, c in zip(self.layers, row)]
                          for s, row in zip(self.shots, self.cells)]}


def sweep_shots_layers(scenario: Scenario, shots: Sequence[int], layers: Sequence[int], n_min: int, n_max: int,
                       draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED) -> Sweep:
    """The ``n*`` interval for every shots x layers pair (the scenario's circuit with ``layers`` replaced).

    Raises:
        ValueError: the circuit family has no ``layers`` (a ``--circuit-factory``), or a value is < 1.
    """
    family = scenario.circuit
    if not (dataclasses.is_dataclass(family) and any(f.name == "layers" for f in dataclasses.fields(family))):
        raise ValueError(f"circuit {family.describe()!r}: has no layers to sweep")
    for name, values in (("shots", shots), ("layers", layers)):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f"sweep {name} = {list(values)!r}: need integers >= 1")
    cells = tuple(
        tuple(n_star_interval(dataclasses.replace(scenario, shots=s, circuit=dataclasses.replace(family, layers=layer)),
                              n_min, n_max, draws, seed) for layer in layers)
        for s in shots)
    return Sweep(scenario.simulator.name, scenario.qpu.name, tuple(shots), tuple(layers), cells)


def energy_bands(scenario: Scenario, ns: Sequence[int], draws: int = DEFAULT_DRAWS,
                 seed: int = DEFAULT_SEED) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Central :data:`INTERVAL` band of ``E_sim`` and ``E_qpu`` at each ``n`` over the Monte Carlo draws.

    Returns:
        ``{"simulator": (low, high), "qpu": (low, high)}``, arrays of ``len(ns)`` (J).
    """
    if draws < 1:
        raise ValueError(f"draws = {draws}: must be >= 1")
    rng = np.random.default_rng(seed)
    sim, qpu = sample_profile(scenario.simulator, draws, rng), sample_profile(scenario.qpu, draws, rng)
    e_sim, e_qpu = energy_grid(scenario, ns, sim, qpu)
    tail = (1.0 - INTERVAL) / 2.0
    out = {}
    for side, grid in (("simulator", e_sim), ("qpu", e_qpu)):
        low, high = np.quantile(grid, [tail, 1.0 - tail], axis=1)
        out[side] = (low, high)
    return out
