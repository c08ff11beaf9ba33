"""The cross-over qubit count, the memory wall beside it, sensitivity, and constant solving.

A :class:`Scenario` fixes everything both energy models need: a simulator profile, a QPU
profile, a circuit family, the shots per inference, the simulation precision, the batch and
whether shots are inflated for noise.

* **Cross-over** ``n*``: the smallest ``n`` in the scanned range with
  ``E_qpu(n) <= E_sim(n)`` (:func:`find_crossover`).  Past the platform's memory wall the
  simulation energy is extrapolated to a larger machine of the same kind, so ``n*`` is an
  energy statement; the memory wall ``n_wall`` (smallest ``n`` the platform cannot hold) is
  reported beside it, and :attr:`Crossover.limit` says which comes first.
* **Sensitivity** (:func:`sensitivity`): every constant of both profiles, and the shot count,
  halved and doubled, with the resulting ``n*`` and memory wall.  Fidelities are perturbed
  through their infidelity ``1 - f``; values are kept inside their admissible range (a doubled
  efficiency of 0.7 is capped at 1) and the row says so.  Since ``E_sim ~ 2^n`` and ``E_qpu`` is
  polynomial, a factor 2 in any linear constant moves ``n*`` by about one qubit.
* **Solving** (:func:`solve_constant`): the value of one constant for which ``n*`` equals a
  target — how the presets' calibrated constants were obtained and can be re-derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

from energy.circuits import CircuitFamily
from energy.profiles import FIELDS, Bound, FieldSpec, Profile
from energy.qpu import QPUEstimate, qpu_energy
from energy.simulation import SimulationEstimate, memory_wall, simulation_energy

__all__ = [
    "Crossover",
    "Curve",
    "N_MAX_DEFAULT",
    "N_MIN_DEFAULT",
    "Scenario",
    "SensitivityRow",
    "Side",
    "find_crossover",
    "qpu_curve",
    "sensitivity",
    "simulation_curve",
    "solve_constant",
]

#: Default qubit range scanned for the cross-over (a statevector of 2^64 amplitudes is far past
#: any machine, so the range always brackets the memory wall).
N_MIN_DEFAULT = 4
N_MAX_DEFAULT = 64

#: Perturbation factors of the sensitivity table.
SENSITIVITY_FACTORS = (0.5, 2.0)

#: Bisection steps of :func:`solve_constant` (in log space; 60 halvings of a 1e12 range are ample).
SOLVE_ITERATIONS = 60

Side = Literal["simulator", "qpu", "run"]


@dataclass(frozen=True)
class Scenario:
    """Everything needed to compare simulation and QPU energy for one pair of profiles."""

    simulator: Profile
    qpu: Profile
    circuit: CircuitFamily
    shots: int
    precision: str = "complex64"
    batch: int = 1
    noise_aware: bool = False

    def simulate(self, n: int) -> SimulationEstimate:
        """Simulation energy of the family's circuit on ``n`` qubits."""
        return simulation_energy(self.circuit(n), self.simulator, self.precision, self.batch,
                                 family=self.circuit)

    def run_qpu(self, n: int) -> QPUEstimate:
        """QPU energy of the family's circuit on ``n`` qubits."""
        return qpu_energy(self.circuit(n), self.qpu, self.shots, self.noise_aware)

    def profile(self, side: Side) -> Profile:
        """The simulator or QPU profile."""
        if side == "simulator":
            return self.simulator
        if side == "qpu":
            return self.qpu
        raise ValueError(f"side {side!r}: profiles exist for 'simulator' and 'qpu' only")

    def with_value(self, side: Side, name: str, value: float, *, source: str,
                   tag: str = "A") -> Scenario:
        """Copy with one constant changed: a profile constant, or ``("run", "shots")``."""
        if side == "run":
            _check_run_parameter(name)
            return replace(self, shots=max(1, int(round(value))))
        changed = self.profile(side).with_constant(name, value, source=source, tag=tag)
        return replace(self, **{side: changed})

    def value(self, side: Side, name: str) -> float:
        """Current value (SI) of a profile constant or of ``("run", "shots")``."""
        if side == "run":
            _check_run_parameter(name)
            return float(self.shots)
        return self.profile(side)[name]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the run parameters."""
        return {"simulator": self.simulator.name, "qpu": self.qpu.name,
                "circuit": self.circuit.describe(), "shots": self.shots,
                "precision": self.precision, "batch": self.batch, "noise_aware": self.noise_aware}


def _check_run_parameter(name: str) -> None:
    if name != "shots":
        raise ValueError(f"run parameter {name!r}: only 'shots' can be varied")


@dataclass(frozen=True)
class Crossover:
    """Result of :func:`find_crossover`.

    Attributes:
        simulator, qpu: profile names.
        n_star: smallest ``n`` with ``E_qpu <= E_sim`` in ``n_range`` (``None``: none in range).
        memory_wall: smallest ``n`` the simulation platform cannot hold.
        qpu_qubits: qubits of the QPU profile (energy beyond is extrapolated).
        n_range: the scanned ``(n_min, n_max)``.
        e_sim, e_qpu: energies (J) at ``n_star`` (``None`` without a cross-over).
    """

    simulator: str
    qpu: str
    n_star: int | None
    memory_wall: int
    qpu_qubits: int
    n_range: tuple[int, int]
    e_sim: float | None = None
    e_qpu: float | None = None

    @property
    def limit(self) -> str:
        """What comes first: ``"cross-over"``, ``"memory wall"``, or ``"none"`` in the range."""
        if self.n_star is not None and self.n_star < self.memory_wall:
            return "cross-over"
        if self.n_star is None and self.memory_wall > self.n_range[1]:
            return "none"
        return "memory wall"

    def summary(self) -> str:
        """One line for the CLI."""
        head = f"{self.simulator} vs {self.qpu}: "
        wall = f"memory wall at n = {self.memory_wall}"
        if self.n_star is None:
            low, high = self.n_range
            return f"{head}no energy cross-over for n in [{low}, {high}]; {wall}"
        at_floor = " (the lower end of the range)" if self.n_star == self.n_range[0] else ""
        energy = (f"n* = {self.n_star}{at_floor} "
                  f"(E_sim {self.e_sim:.3g} J >= E_qpu {self.e_qpu:.3g} J)")
        first = ("cross-over comes first" if self.limit == "cross-over"
                 else "memory wall comes first (n* extrapolated past it)")
        beyond = (f"; beyond the QPU's {self.qpu_qubits} qubits"
                  if self.n_star > self.qpu_qubits else "")
        return f"{head}{energy}; {wall}; {first}{beyond}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"simulator": self.simulator, "qpu": self.qpu, "n_star": self.n_star,
                "memory_wall": self.memory_wall, "limit": self.limit, "qpu_qubits": self.qpu_qubits,
                "n_range": list(self.n_range), "e_sim_j": self.e_sim, "e_qpu_j": self.e_qpu}


@dataclass(frozen=True)
class Curve:
    """Energy per inference against qubit count for one profile.

    Attributes:
        profile: profile name.
        kind: ``"simulator"`` or ``"qpu"``.
        n: qubit counts.
        energy_j: energy per inference at each ``n``.
        valid: the platform can run it (simulation below the memory wall; QPU within its qubits).
        memory_wall: the simulation memory wall (``None`` for a QPU).
    """

    profile: str
    kind: str
    n: tuple[int, ...]
    energy_j: tuple[float, ...]
    valid: tuple[bool, ...]
    memory_wall: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"profile": self.profile, "kind": self.kind, "n": list(self.n),
                "energy_j": list(self.energy_j), "valid": list(self.valid),
                "memory_wall": self.memory_wall}


def simulation_curve(profile: Profile, circuit: CircuitFamily, ns: range,
                     precision: str = "complex64", batch: int = 1) -> Curve:
    """Simulation energy per inference for each ``n`` in ``ns`` (extrapolated past the wall)."""
    estimates = [simulation_energy(circuit(n), profile, precision, batch, family=circuit) for n in ns]
    return Curve(profile.name, profile.kind.value, tuple(ns), tuple(e.energy_j for e in estimates),
                 tuple(e.feasible for e in estimates), memory_wall(profile, precision))


def qpu_curve(profile: Profile, circuit: CircuitFamily, ns: range, shots: int,
              noise_aware: bool = False) -> Curve:
    """QPU energy per inference for each ``n`` in ``ns`` (extrapolated past the device's qubits)."""
    estimates = [qpu_energy(circuit(n), profile, shots, noise_aware) for n in ns]
    return Curve(profile.name, profile.kind.value, tuple(ns), tuple(e.energy_j for e in estimates),
                 tuple(e.within_capacity for e in estimates))


def _check_range(n_min: int, n_max: int) -> None:
    if not 1 <= n_min <= n_max:
        raise ValueError(f"qubit range [{n_min}, {n_max}]: need 1 <= n_min <= n_max")


def find_crossover(scenario: Scenario, n_min: int = N_MIN_DEFAULT,
                   n_max: int = N_MAX_DEFAULT) -> Crossover:
    """Scan ``n`` upward for the first ``E_qpu(n) <= E_sim(n)`` (module docstring)."""
    _check_range(n_min, n_max)
    wall = memory_wall(scenario.simulator, scenario.precision)
    common = dict(simulator=scenario.simulator.name, qpu=scenario.qpu.name, memory_wall=wall,
                  qpu_qubits=int(scenario.qpu["max_qubits"]), n_range=(n_min, n_max))
    for n in range(n_min, n_max + 1):
        e_sim = scenario.simulate(n).energy_j
        e_qpu = scenario.run_qpu(n).energy_j
        if e_qpu <= e_sim:
            return Crossover(n_star=n, e_sim=e_sim, e_qpu=e_qpu, **common)
    return Crossover(n_star=None, **common)


@dataclass(frozen=True)
class SensitivityRow:
    """One constant halved and doubled: the values used and the resulting ``n*`` and wall."""

    side: str
    name: str
    base: float
    unit: str
    values: tuple[float, float]
    n_star: tuple[int | None, int | None]
    memory_wall: tuple[int, int]
    note: str = ""
    base_n_star: int | None = field(default=None, repr=False)

    @property
    def max_shift(self) -> float:
        """Largest ``|n*(perturbed) - n*(base)|`` (``inf`` if a cross-over appears or vanishes)."""
        shifts = []
        for n in self.n_star:
            if n == self.base_n_star:
                shifts.append(0.0)
            elif n is None or self.base_n_star is None:
                shifts.append(math.inf)
            else:
                shifts.append(float(abs(n - self.base_n_star)))
        return max(shifts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"side": self.side, "name": self.name, "base": self.base, "unit": self.unit,
                **{key: {"value": self.values[i], "n_star": self.n_star[i],
                         "memory_wall": self.memory_wall[i]}
                   for i, key in enumerate(("half", "double"))},
                "note": self.note}


def _perturb(spec: FieldSpec | None, value: float, factor: float) -> tuple[float, str]:
    """Perturbed value of a constant (``spec=None``: the shot count) and how it was kept valid."""
    if spec is None:
        return max(1.0, float(round(value * factor))), ""
    if spec.name.startswith("fidelity_"):
        new = 1.0 - (1.0 - value) * factor
        if new <= 0.0:  # infidelity above 1/2 cannot double
            return value / 2.0, "infidelity 1-f halved/doubled; fidelity halved instead"
        return new, "infidelity 1-f halved/doubled"
    new = spec.bound.clip(value * factor)
    if spec.integer:
        return max(1.0, float(round(new))), ""
    if new != value * factor:
        return new, ("capped at 1" if spec.bound in (Bound.FRACTION, Bound.UNIT_INTERVAL) else "kept >= 1")
    return new, ""


def sensitivity(scenario: Scenario, n_min: int = N_MIN_DEFAULT,
                n_max: int = N_MAX_DEFAULT) -> tuple[Crossover, list[SensitivityRow]]:
    """Halve and double each constant of both profiles and the shot count; see module docstring.

    Returns:
        The base cross-over and one row per constant, sorted by decreasing effect on ``n*``.
    """
    base = find_crossover(scenario, n_min, n_max)
    entries: list[tuple[Side, FieldSpec | None]] = [
        (side, FIELDS[scenario.profile(side).kind][name])
        for side in ("simulator", "qpu") for name in scenario.profile(side).constants
    ]
    entries.append(("run", None))
    rows = []
    for side, spec in entries:
        name, unit = (spec.name, spec.dimension.value) if spec else ("shots", "1")
        value = scenario.value(side, name)
        values, stars, walls, notes = [], [], [], []
        for factor in SENSITIVITY_FACTORS:
            new, note = _perturb(spec, value, factor)
            varied = scenario.with_value(side, name, new, source=f"sensitivity x{factor:g}")
            result = find_crossover(varied, n_min, n_max)
            values.append(new)
            stars.append(result.n_star)
            walls.append(result.memory_wall)
            if note and note not in notes:
                notes.append(note)
        rows.append(SensitivityRow(side, name, value, unit, tuple(values), tuple(stars),
                                   tuple(walls), "; ".join(notes), base.n_star))
    rows.sort(key=lambda r: (-r.max_shift, r.side, r.name))
    return base, rows


def _n_star_value(scenario: Scenario, n_min: int, n_max: int) -> float:
    n = find_crossover(scenario, n_min, n_max).n_star
    return math.inf if n is None else float(n)


def _smallest_true(pred: Callable[[float], bool], lo: float, hi: float) -> float:
    """Smallest ``v`` in ``[lo, hi]`` with ``pred(v)``, by log-bisection (``pred`` monotone)."""
    for _ in range(SOLVE_ITERATIONS):
        mid = math.sqrt(lo * hi)
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def solve_constant(scenario: Scenario, side: Side, name: str, target: int, lo: float, hi: float,
                   n_min: int = N_MIN_DEFAULT, n_max: int = N_MAX_DEFAULT) -> tuple[float, float]:
    """Interval ``[a, b)`` of values of one constant for which ``n* == target``.

    ``n*`` must be monotone in the constant over ``[lo, hi]`` (true for powers, times, shots,
    bandwidths and efficiencies).  The presets store the geometric midpoint ``sqrt(a b)``.

    Raises:
        ValueError: ``target`` is not reached anywhere in ``[lo, hi]``.
    """
    if not 0 < lo < hi:
        raise ValueError(f"search interval [{lo}, {hi}]: need 0 < lo < hi")

    def n_star(v: float) -> float:
        varied = scenario.with_value(side, name, v, source="solve_constant")
        return _n_star_value(varied, n_min, n_max)

    at_lo, at_hi = n_star(lo), n_star(hi)
    increasing = at_lo <= at_hi
    low_end, high_end = (at_lo, at_hi) if increasing else (at_hi, at_lo)
    if not low_end <= target <= high_end:
        raise ValueError(f"{side} constant {name!r} in [{lo:g}, {hi:g}] gives n* from {at_lo} "
                         f"to {at_hi}: target {target} not reachable")
    if increasing:
        a = lo if at_lo >= target else _smallest_true(lambda v: n_star(v) >= target, lo, hi)
        b = hi if at_hi < target + 1 else _smallest_true(lambda v: n_star(v) >= target + 1, lo, hi)
    else:
        a = lo if at_lo <= target else _smallest_true(lambda v: n_star(v) <= target, lo, hi)
        b = hi if at_hi > target - 1 else _smallest_true(lambda v: n_star(v) <= target - 1, lo, hi)
    return a, b
