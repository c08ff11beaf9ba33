"""``qhybrid energy`` / ``python -m energy``: energy per inference, cross-over, sensitivity, plot.

:data:`COMMAND` is the ``energy`` entry of the ``qhybrid.commands`` entry-point group
(``pyproject.toml``): :func:`add_arguments` and :func:`run`, which ``python -m energy`` (and
``python -m energy.cli``, :func:`main`) use as well.  The command prints

1. the profiles used (and how power was obtained for measured or calibrated ones; with
   ``--calibrate``, the eta fit and the energy fit with its held-out validation),
2. the model's formulas, and energy per inference against qubits for every profile,
3. the cross-over ``n*`` of every simulator/QPU pair with the memory wall beside it,
4. the simulators x QPUs matrix of Monte Carlo ``n*`` intervals,
5. the shots x depth sweep of ``n*`` for the first pair (or the preset's),
6. the breakdown at ``n*`` (devices, passes, compute vs exposed communication, shots after
   noise, time-to-solution, dominant constants) and the cost and CO2 of one inference there,
7. the best classical alternative (light cone, MPS bound; measured with ``--measure-mps``),
8. with ``--preset``, the preset's assumptions, un-fitted interval and calibrated constant,
9. with ``--sensitivity``, each constant at the ends of its range and the resulting ``n*``,

and writes ``--json`` and ``--plot`` files atomically.  Errors in inputs (bad profile, bench
file, circuit or option) print one line naming the bad value and return exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import math
import os
import sys
from pathlib import Path
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Sequence

from energy.calibrate import (DEFAULT_HOLDOUT, DEFAULT_SIMULATOR, CalibrationError, EfficiencyFit, EnergyFit,
                              calibrated_profile, fit_efficiency, fit_energy, load_bench)
from energy.circuits import (CircuitFamily, EnergyCircuitError, HardwareEfficient, PaperHead,
                             family_from_factory)
from energy.crossover import (N_MAX_DEFAULT, N_MIN_DEFAULT, Crossover, Curve, Scenario, find_crossover,
                              qpu_curve, simulation_curve)
from energy.measure import (DEFAULT_COPY_BYTES, PowerReading, measure_copy_bandwidth,
                            measure_rapl_power, measured_cpu_profile, nvml_power)
from energy.presets import PRESETS, Preset, get_preset, recalibrate
from energy.profiles import EnergyProfileError, Kind, Profile, builtin_profile_names, load_profile
from energy.classical import classical_bound
from energy.mps import aer_available, measure_mps
from energy.costs import ELECTRICITY_PRICE, GRID_INTENSITY, SourcedConstant, inference_cost
from energy.qpu import shots_for_precision
from energy.simulation import BYTES_PER_AMPLITUDE
from energy.uncertainty import (DEFAULT_DRAWS, DEFAULT_SEED, INTERVAL, NStarInterval, Sweep, energy_bands,
                                n_star_interval, rank_constants, sweep_shots_layers)
from qsim.atomic import atomic_write_json

__all__ = ["COMMAND", "add_arguments", "main", "run"]

JSON_SCHEMA = "qhybrid.energy/1"
DEFAULT_SIMULATORS = ("cpu", "h100", "dgx-h100", "frontier")
DEFAULT_QPUS = ("ionq-forte", "superconducting")
DEFAULT_SHOTS = 1000
#: Qubit step between rows of the printed table (every n is still computed and plotted).
DEFAULT_TABLE_STEP = 4
#: Shots per inference and PQC layers of the shots x depth sweep (``--sweep-shots``, ``--sweep-layers``).
DEFAULT_SWEEP_SHOTS = "100,1000,10000,100000"
DEFAULT_SWEEP_LAYERS = "1,2,4,8"
#: Most Monte Carlo draws per cell of the sweep (16 cells; the quantiles of 500 draws move by ~0.2 qubit).
SWEEP_DRAWS = 500
#: Most Monte Carlo draws behind the plot's bands (one grid of every n per profile).
PLOT_DRAWS = 500
#: GPU profile for a bench file's ``machine.gpu`` name when ``--calibrate-profile`` is absent.
GPU_PROFILE_BY_NAME = (("H200", "h200"), ("H100", "h100"), ("A100", "a100"))
EXIT_USAGE = 2
#: Largest qubit count ``--qubits`` accepts: a state of 2^100 amplitudes is 10^16 times the
#: largest machine's memory (Frontier, ~4.6 PB HBM), so nothing in the model changes beyond it and
#: larger ranges are typos (``4:2000``) that would overflow 2^n.
QUBITS_LIMIT = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``energy`` options to ``parser``."""
    prof = parser.add_argument_group("profiles")
    prof.add_argument("--sim", nargs="+", metavar="PROFILE",
                      help=f"simulation platforms (default: {' '.join(DEFAULT_SIMULATORS)})")
    prof.add_argument("--qpu", nargs="+", metavar="PROFILE",
                      help=f"QPUs (default: {' '.join(DEFAULT_QPUS)})")
    prof.add_argument("--profile-file", action="append", default=[], metavar="TOML",
                      help="a user profile file, added to --sim or --qpu by its kind (repeatable)")
    prof.add_argument("--list-profiles", action="store_true",
                      help="list the built-in profiles and exit")
    prof.add_argument("--preset", choices=sorted(PRESETS),
                      help="reproduce a published cross-over (fixes profiles, circuit and shots)")
    prof.add_argument("--recalibrate", action="store_true",
                      help="with --preset: re-solve the preset's calibrated constant")

    circ = parser.add_argument_group("circuit")
    circ.add_argument("--circuit", choices=("paper-head", "hardware-efficient"),
                      default="paper-head")
    circ.add_argument("--circuit-factory", metavar="MODULE:FUNC",
                      help="callable n -> circuit with n_qubits, count_by_arity(), depth()")
    circ.add_argument("--layers", type=int, default=1, help="PQC layers (default 1)")
    circ.add_argument("--connectivity", type=int, default=1,
                      help="paper head connectivity C (default 1)")
    circ.add_argument("--reuploads", type=int, default=1,
                      help="paper head re-uploads N (default 1)")
    circ.add_argument("--final-layers", type=int, default=1,
                      help="paper head PQC 2 layers (default 1)")
    circ.add_argument("--ry-column", action="store_true",
                      help="paper head: a column of RYs after each PQC")

    runp = parser.add_argument_group("run")
    shots = runp.add_mutually_exclusive_group()
    shots.add_argument("--shots", type=int,
                       help=f"QPU shots per inference (default {DEFAULT_SHOTS})")
    shots.add_argument("--target-precision", type=float, metavar="EPS",
                       help="shots for a standard error EPS of <Z>: S = ceil(1/EPS^2)")
    runp.add_argument("--noise-aware", action="store_true",
                      help="inflate shots by 1/F^2 (F: circuit fidelity)")
    runp.add_argument("--precision", choices=sorted(BYTES_PER_AMPLITUDE), default="complex64")
    runp.add_argument("--batch", type=int, default=1,
                      help="inputs simulated together (amortises kernel launches)")
    runp.add_argument("--qubits", default=f"{N_MIN_DEFAULT}:{N_MAX_DEFAULT}", metavar="MIN:MAX",
                      help=f"qubit range (default {N_MIN_DEFAULT}:{N_MAX_DEFAULT})")
    runp.add_argument("--step", type=int, default=DEFAULT_TABLE_STEP,
                      help="qubit step of the printed table")

    meas = parser.add_argument_group("measurement and calibration")
    meas.add_argument("--measure-cpu", action="store_true",
                      help="measure this machine's copy bandwidth, memory, cores and RAPL power "
                           "for the 'cpu' profile")
    meas.add_argument("--measure-mps", action="store_true",
                      help="time an exact Qiskit Aer matrix-product-state run of the circuit at each n* "
                           "(needs qiskit-aer, the 'peers' extra)")
    meas.add_argument("--copy-mib", type=float, default=DEFAULT_COPY_BYTES / 2**20,
                      help="array size of the bandwidth measurement (MiB)")
    meas.add_argument("--calibrate", metavar="BENCH_JSON",
                      help="fit the efficiency eta from a qhybrid.bench/1 file")
    meas.add_argument("--calibrate-simulator", default=DEFAULT_SIMULATOR,
                      help=f"bench simulator to fit (default {DEFAULT_SIMULATOR})")
    meas.add_argument("--calibrate-device", choices=("cpu", "gpu"), default="cpu")
    meas.add_argument("--calibrate-profile", metavar="PROFILE",
                      help="profile to calibrate (default: cpu, or the bench file's GPU)")
    meas.add_argument("--calibrate-holdout", type=int, default=DEFAULT_HOLDOUT, metavar="K",
                      help="energy fit: leave out the rows of the K largest n and report the error "
                           f"predicting them (default {DEFAULT_HOLDOUT}; 0: no validation)")

    cost = parser.add_argument_group("cost and sweep")
    cost.add_argument("--electricity-price", type=float, metavar="USD_PER_KWH",
                      help=f"electricity price (default {ELECTRICITY_PRICE.value:g} USD/kWh, range "
                           f"{ELECTRICITY_PRICE.low:g}-{ELECTRICITY_PRICE.high:g}: EIA 2023)")
    cost.add_argument("--grid-intensity", type=float, metavar="G_PER_KWH",
                      help=f"grid carbon intensity (default {GRID_INTENSITY.value:g} gCO2/kWh, range "
                           f"{GRID_INTENSITY.low:g}-{GRID_INTENSITY.high:g}: Ember 2023)")
    cost.add_argument("--sweep-shots", default=DEFAULT_SWEEP_SHOTS, metavar="LIST",
                      help=f"shots per inference of the shots x depth sweep (default {DEFAULT_SWEEP_SHOTS})")
    cost.add_argument("--sweep-layers", default=DEFAULT_SWEEP_LAYERS, metavar="LIST",
                      help=f"PQC layers of the sweep (default {DEFAULT_SWEEP_LAYERS})")
    cost.add_argument("--no-sweep", action="store_true", help="skip the shots x depth sweep")

    out = parser.add_argument_group("output")
    out.add_argument("--sensitivity", action="store_true",
                     help="rank the constants by their effect on the interpolated n* (each at the ends of its range)")
    out.add_argument("--draws", type=int, default=DEFAULT_DRAWS,
                     help=f"Monte Carlo draws over the constants' ranges (default {DEFAULT_DRAWS})")
    out.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"Monte Carlo seed (default {DEFAULT_SEED})")
    out.add_argument("--json", metavar="PATH", help="write all results as JSON")
    out.add_argument("--plot", metavar="PATH",
                     help="write a PNG: log energy vs qubits, cross-overs and memory walls marked")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    try:
        return _run(args)
    except (EnergyProfileError, EnergyCircuitError, CalibrationError, ValueError, KeyError,
            OSError, OverflowError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.filename}: {exc.strerror}"
        text = " ".join(str(message).split())  # one line, whatever the message held
        print(f"energy: error: {text}", file=sys.stderr)
        return EXIT_USAGE


@dataclass
class _Setup:
    """Everything the report needs, resolved from the options."""

    sims: list[Profile]
    qpus: list[Profile]
    circuit: CircuitFamily
    shots: int
    precision: str
    noise_aware: bool
    preset: Preset | None = None
    power: dict[str, dict[str, Any]] = field(default_factory=dict)
    fit: EfficiencyFit | None = None
    energy_fit: EnergyFit | None = None
    energy_fit_note: str = ""


def _parse_range(text: str) -> range:
    low, sep, high = text.partition(":")
    try:
        n_min, n_max = int(low), int(high)
    except ValueError:
        raise ValueError(f"--qubits {text!r}: expected MIN:MAX, e.g. 4:60") from None
    if not sep or not 1 <= n_min <= n_max:
        raise ValueError(f"--qubits {text!r}: need 1 <= MIN <= MAX")
    if n_max > QUBITS_LIMIT:
        raise ValueError(f"--qubits {text!r}: MAX must be <= {QUBITS_LIMIT} (2^{QUBITS_LIMIT} amplitudes "
                         "are far past any machine)")
    return range(n_min, n_max + 1)


def _check_output(option: str, path: str | None) -> None:
    """Fail before any work when ``path`` cannot be written (missing folder, no permission)."""
    if path is None:
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ValueError(f"{option} {path!r}: is a directory")
    if not parent.is_dir():
        raise ValueError(f"{option} {path!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ValueError(f"{option} {path!r}: not writable")


def _check_options(args: argparse.Namespace) -> None:
    """Every numeric option in its range; one ``ValueError`` line for the first bad one."""
    if args.shots is not None and args.shots < 1:
        raise ValueError(f"--shots = {args.shots}: must be >= 1")
    if args.target_precision is not None and not 0.0 < args.target_precision < 1.0:
        raise ValueError(f"--target-precision = {args.target_precision}: must be in (0, 1)")
    for option, value in (("--batch", args.batch), ("--step", args.step), ("--draws", args.draws)):
        if value < 1:
            raise ValueError(f"{option} = {value}: must be >= 1")
    if not args.copy_mib > 0:
        raise ValueError(f"--copy-mib = {args.copy_mib}: must be > 0")
    if args.calibrate_holdout < 0:
        raise ValueError(f"--calibrate-holdout = {args.calibrate_holdout}: must be >= 0")
    for option, value in (("--electricity-price", args.electricity_price), ("--grid-intensity", args.grid_intensity)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{option} = {value}: must be a finite number > 0")
    _parse_list("--sweep-shots", args.sweep_shots)
    _parse_list("--sweep-layers", args.sweep_layers)
    _check_output("--json", args.json)
    _check_output("--plot", args.plot)


#: Most values one sweep list takes (each is a Monte Carlo per cell).
SWEEP_MAX_VALUES = 8


def _parse_list(option: str, text: str) -> tuple[int, ...]:
    """``"100,1000"`` -> ``(100, 1000)``: integers >= 1, at most :data:`SWEEP_MAX_VALUES`."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected integers separated by commas, e.g. 100,1000") from None
    if not values or any(v < 1 for v in values):
        raise ValueError(f"{option} {text!r}: every value must be >= 1")
    if len(values) > SWEEP_MAX_VALUES:
        raise ValueError(f"{option} {text!r}: at most {SWEEP_MAX_VALUES} values")
    return values


def _cost_constants(args: argparse.Namespace) -> tuple[SourcedConstant, SourcedConstant]:
    price, intensity = ELECTRICITY_PRICE, GRID_INTENSITY
    if args.electricity_price is not None:
        price = price.override(args.electricity_price, "--electricity-price")
    if args.grid_intensity is not None:
        intensity = intensity.override(args.grid_intensity, "--grid-intensity")
    return price, intensity


def _check_unique(profiles: Sequence[Profile]) -> None:
    seen: set[str] = set()
    for profile in profiles:
        if profile.name in seen:
            raise ValueError(f"profile name {profile.name!r} given twice (--sim/--qpu/--profile-file): "
                             "names label the results and must be unique")
        seen.add(profile.name)


def _circuit(args: argparse.Namespace) -> CircuitFamily:
    if args.circuit_factory:
        return family_from_factory(args.circuit_factory)
    if args.circuit == "hardware-efficient":
        return HardwareEfficient(args.layers)
    return PaperHead(args.layers, args.connectivity, args.reuploads, args.final_layers,
                     args.ry_column)


def _replace_or_insert(profiles: list[Profile], old_name: str, new: Profile) -> list[Profile]:
    if any(p.name == old_name for p in profiles):
        return [new if p.name == old_name else p for p in profiles]
    return [new, *profiles]


def _setup(args: argparse.Namespace) -> _Setup:
    if args.preset:
        if args.sim or args.qpu or args.profile_file:
            raise ValueError("--preset fixes the profiles: drop --sim, --qpu and --profile-file")
        preset = get_preset(args.preset)
        sc = preset.scenario()
        setup = _Setup([sc.simulator], [sc.qpu], sc.circuit, sc.shots, sc.precision,
                       sc.noise_aware, preset)
    else:
        sims = [load_profile(name) for name in (args.sim or DEFAULT_SIMULATORS)]
        qpus = [load_profile(name) for name in (args.qpu or DEFAULT_QPUS)]
        for path in args.profile_file:
            extra = load_profile(path)
            (sims if extra.kind is Kind.SIMULATOR else qpus).append(extra)
        if args.target_precision is not None:
            shots = shots_for_precision(args.target_precision)
        else:
            shots = DEFAULT_SHOTS if args.shots is None else args.shots
        setup = _Setup(sims, qpus, _circuit(args), shots, args.precision, args.noise_aware)
    for option, profiles, kind in (("--sim", setup.sims, Kind.SIMULATOR),
                                   ("--qpu", setup.qpus, Kind.QPU)):
        for profile in profiles:
            if profile.kind is not kind:
                raise ValueError(f"{option} {profile.name!r} is a {profile.kind.value} profile")
    _check_unique(setup.sims + setup.qpus)

    if args.measure_cpu:
        base = next((p for p in setup.sims if p.name == "cpu"), None) or load_profile("cpu")
        measured, reading = measured_cpu_profile(base, int(args.copy_mib * 2**20))
        setup.sims = _replace_or_insert(setup.sims, "cpu", measured)
        setup.power[measured.name] = reading.__dict__
    if args.calibrate:
        calibrated, setup.fit, reading, setup.energy_fit, setup.energy_fit_note = _calibrate(args, setup.sims)
        setup.sims = _replace_or_insert(setup.sims, calibrated.name.removesuffix(" (calibrated)"),
                                        calibrated)
        if setup.energy_fit is not None:
            e = setup.energy_fit
            setup.power[calibrated.name] = {
                "method": f"bench energy fit ({e.counter})",
                "detail": f"{e.joules_per_byte:.4g} J/B + {e.static_power_w:.4g} W static, "
                          f"{len(e.rows)} rows measured during the bench run"}
        else:
            setup.power[calibrated.name] = reading.__dict__ if reading else {
                "method": "tdp x utilisation", "detail": "no RAPL/NVML reading; profile power kept"}
    return setup


def _calibrate(args: argparse.Namespace, sims: list[Profile]
               ) -> tuple[Profile, EfficiencyFit, PowerReading | None, EnergyFit | None, str]:
    """Fit eta from the bench file, and power from the rows' energy (measured during the bench run).

    Without energy in the rows, power is read here (RAPL for a CPU, NVML for a GPU) as before;
    the last item says why the energy fit was not used.
    """
    bench = load_bench(args.calibrate)
    device = args.calibrate_device
    if args.calibrate_profile:
        base = load_profile(args.calibrate_profile)
    elif device == "cpu":
        base = next((p for p in sims if p.name == "cpu (measured)"), None) or load_profile("cpu")
    else:
        gpu_name = str(bench["machine"].get("gpu") or "").upper()
        match = next((name for key, name in GPU_PROFILE_BY_NAME if key in gpu_name), None)
        if match is None:
            raise CalibrationError(f"bench machine.gpu = {gpu_name!r}: no matching profile, "
                                   "pass --calibrate-profile")
        base = load_profile(match)
    fit = fit_efficiency(bench, args.calibrate_simulator, device,
                         None if device == "cpu" else base["bandwidth_per_device"])
    try:
        energy = fit_energy(bench, args.calibrate_simulator, device, args.calibrate_holdout)
        note = ""
    except CalibrationError as exc:
        energy, note = None, str(exc)
    if energy is not None:
        return calibrated_profile(base, fit, bench["machine"], energy=energy), fit, None, energy, ""
    if device == "cpu":
        nbytes = int(args.copy_mib * 2**20)
        power = measure_rapl_power(lambda: measure_copy_bandwidth(nbytes))
    else:
        power = nvml_power()
    return calibrated_profile(base, fit, bench["machine"], power), fit, power, None, note


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" + (f" {unit}" if unit and unit != "1" else "")


def _print_table(curves: Sequence[Curve], rows: Sequence[int]) -> None:
    widths = [max(11, len(c.profile) + 2) for c in curves]
    print("energy per inference (J); '~' = extrapolated "
          "(past the memory wall / beyond the QPU's qubits)")
    print("    n" + "".join(c.profile.rjust(w) for c, w in zip(curves, widths)))
    for n in rows:
        cells = []
        for curve, width in zip(curves, widths):
            i = curve.n.index(n)
            mark = "" if curve.valid[i] else "~"
            cells.append(f"{curve.energy_j[i]:.3g}{mark}".rjust(width))
        print(f"{n:5d}" + "".join(cells))


#: The model in one line each (printed with every answer).
FORMULA = (
    "E_sim = PUE * N * [(u P_dev + P_host) t_comp + (u_comm P_dev + P_host) t_exp],  "
    "t_comp = 2 b 2^n W / (N eta BW),  t_exp = t_comm - min(o t_comm, t_comp)",
    "t_comm = sum over the qsim distributed plan's exchange steps s of (S/N) 2^-m_s [(2^a_s - 1) / BW_intra + "
    "(2^m_s - 2^a_s) / BW_inter]  (m_s rank bits swapped, a_s of them inside a node)",
    "E_qpu = PUE * (P_0 + p_q n + P_ctrl) * S_eff * (t_prep + t_circ + t_readout + t_overhead),  "
    "S_eff = S / F^2 when noise-aware",
)
#: Constants named beside the breakdown: the ones moving n* most.
DOMINANT_SHOWN = 3


def _q(x: float, above: str = "none") -> str:
    return above if x != x else f"{x:.1f}"


def _print_ranking(scenario: Scenario, nominal: float, effects: Sequence[Any]) -> None:
    print(f"\nsensitivity: {scenario.simulator.name} vs {scenario.qpu.name} (interpolated n* = {nominal:.2f}); "
          "each constant at the low / high end of its range, others at their values")
    print(f"{'side':10s}{'constant':24s}{'value':>11s}{'low':>11s}{'high':>11s}{'n*(low)':>9s}{'n*(high)':>9s}"
          f"{'shift':>8s}")
    for e in effects:
        print(f"{e.side:10s}{e.name:24s}{e.value:>11.3g}{e.low:>11.3g}{e.high:>11.3g}{_q(e.n_star_low):>9s}"
              f"{_q(e.n_star_high):>9s}{e.shift:>+8.2f}")


def _print_preset(preset: Preset, solved: tuple[float, float] | None, unfitted: NStarInterval) -> None:
    side, name, _, _ = preset.calibrated
    print(f"preset {preset.name}: {preset.title}")
    for a in preset.assumptions:
        print(f"  [{a.status:10s}] {a.what}: {a.value}" + (f"  ({a.why})" if a.why else ""))
    print(f"  un-fitted (sourced constants and their ranges): {unfitted.text()}; {side} {name} = "
          f"{preset.unfitted_value():.4g} (SI)")
    line = (f"  calibrated: {side} {name} = {preset.calibrated_value():.4g} (SI), solved so that n* = {preset.target} "
            "(applied to this preset only)")
    if solved is not None:
        line += f"; re-solved interval for n* = {preset.target}: [{solved[0]:.4g}, {solved[1]:.4g})"
    print(line)
    print(f"  note: {preset.note}")


def _print_matrix(sims: Sequence[Profile], qpus: Sequence[Profile],
                  intervals: dict[tuple[str, str], NStarInterval]) -> None:
    print(f"\nn* intervals (interpolated; Monte Carlo over every constant's range, central {INTERVAL:.0%}; "
          "'>MAX': no cross-over in range):")
    width = 26
    print(" " * 18 + "".join(q.name[:width - 2].rjust(width) for q in qpus))
    for sim in sims:
        cells = []
        for qpu in qpus:
            iv = intervals[(sim.name, qpu.name)]
            above = f">{iv.n_range[1]}"
            cells.append(f"{_q(iv.nominal, above)} [{_q(iv.low, above)}, {_q(iv.high, above)}]".rjust(width))
        print(f"{sim.name[:18]:18s}" + "".join(cells))


def _print_breakdown(scenario: Scenario, crossover: Crossover, dominant: Sequence[Any]) -> None:
    """What the energies at n* are made of, time-to-solution beside energy, the dominant constants."""
    head = f"  {scenario.simulator.name} vs {scenario.qpu.name}"
    if crossover.n_star is None:
        print(f"{head}: no cross-over in range")
        return
    n = crossover.n_star
    sim, qpu = scenario.simulate(n), scenario.run_qpu(n)
    wall = "" if sim.feasible else f" (past the memory wall: {sim.devices} devices extrapolated)"
    print(f"{head} at n = {n}:")
    print(f"    simulation {sim.energy_j:.3g} J, time-to-solution {sim.time_s:.3g} s{wall}: {sim.devices} device(s), "
          f"{sim.passes:g} passes / {sim.sweeps:g} sweeps ({sim.work}); compute {sim.t_compute:.3g} s = "
          f"{sim.energy_compute_j:.3g} J at {sim.power_w:.3g} W; communication {sim.remaps:g} exchange step(s) "
          f"moving {sim.exchange_slices:.3g} slices per device ({sim.exchange_method}) "
          f"{sim.t_comm:.3g} s, {sim.t_comm_exposed:.3g} s exposed = {sim.energy_comm_j:.3g} J at "
          f"{sim.power_comm_w:.3g} W")
    print(f"    QPU {qpu.energy_j:.3g} J, time-to-solution {qpu.time_s:.3g} s: {qpu.shots} shots -> "
          f"{qpu.shots_effective:.4g} after noise (F = {qpu.fidelity:.3g}), {qpu.t_shot * 1e3:.3g} ms per shot, "
          f"{qpu.power_w:.3g} W")
    if dominant:
        names = ", ".join(f"{e.side} {e.name} ({e.shift:+.2f} qubits over its range)" for e in dominant)
        print(f"    dominant constants: {names}")


def _print_sweep(sweep: Sweep) -> None:
    """n* over shots (rows) and layers (columns) for one pair."""
    print(f"\nshots x depth: n* [{INTERVAL:.0%} interval] of {sweep.simulator} vs {sweep.qpu} by shots per inference "
          "(rows) and PQC layers (columns):")
    width = 22
    print(f"{'shots':>8s}" + "".join(f"layers {layer}".rjust(width) for layer in sweep.layers))
    for shots, row in zip(sweep.shots, sweep.cells):
        cells = []
        for iv in row:
            above = f">{iv.n_range[1]}"
            cells.append(f"{_q(iv.nominal, above)} [{_q(iv.low, above)}, {_q(iv.high, above)}]".rjust(width))
        print(f"{shots:>8d}" + "".join(cells))


def _print_costs(crossovers: Sequence[Crossover], price: SourcedConstant,
                 intensity: SourcedConstant) -> list[dict[str, Any]]:
    """Money and CO2 of one inference at each n* (the QPU's energy there; the simulation's is no less)."""
    print(f"\ncost and CO2 per inference at n* (QPU energy at n*; {price.value:g} USD/kWh "
          f"[{price.low:g}, {price.high:g}], {intensity.value:g} gCO2/kWh [{intensity.low:g}, {intensity.high:g}]; "
          "ranges from the price and intensity ranges):")
    out = []
    for c in crossovers:
        if c.n_star is None or c.e_qpu is None:
            print(f"  {c.simulator} vs {c.qpu}: no cross-over in range")
            continue
        qpu, sim = inference_cost(c.e_qpu, price, intensity), inference_cost(c.e_sim, price, intensity)
        print(f"  {c.simulator} vs {c.qpu} at n = {c.n_star}: {qpu.text()}")
        out.append({"simulator": c.simulator, "qpu": c.qpu, "n_star": c.n_star, "qpu_cost": qpu.to_dict(),
                    "simulation_cost": sim.to_dict()})
    return out


def _print_classical(setup: _Setup, crossovers: Sequence[Crossover],
                     scenarios: Sequence[Scenario], measure: bool = False) -> list[dict[str, Any]]:
    """Best classical alternative at each n* (light cone, MPS bound, measured MPS) and the warning when it wins."""
    out = []
    measured: dict[int, Any] = {}
    if measure and aer_available():
        print(f"  measured MPS: skipped ({aer_available()})")
        measure = False
    for crossover, scenario in zip(crossovers, scenarios):
        if crossover.n_star is None:
            continue
        n = crossover.n_star
        bound = classical_bound(setup.circuit(n))
        entry = {"simulator": crossover.simulator, "qpu": crossover.qpu, **bound.to_dict(), "mps_measured": None}
        out.append(entry)
        if measure:
            if n not in measured:
                measured[n] = measure_mps(setup.circuit(n))
                result, why = measured[n]
                print(f"  measured at n = {n}: " + (
                    f"exact <Z_0> = {result.expectation:.4g} in {result.time_s:.3g} s = {result.energy_j:.3g} J "
                    f"({result.simulator}, median of {result.repeats})" if result else f"skipped ({why})"))
            result, _ = measured[n]
            entry["mps_measured"] = result.to_dict() if result else None
        if bound.mps_energy_j is None:
            continue
        e_qpu = scenario.run_qpu(n).energy_j
        line = (f"{crossover.simulator} vs {crossover.qpu} at n = {n}: light cone {bound.light_cone} of {n} qubits, "
                f"MPS bond dimension <= {bound.bond_dimension:g}: exact <Z_0> for <= {bound.mps_energy_j:.3g} J in "
                f"{bound.mps_time_s:.3g} s on one core (QPU {e_qpu:.3g} J)")
        mps_j = bound.mps_energy_j
        if entry["mps_measured"]:
            mps_j = min(mps_j, entry["mps_measured"]["energy_j"])
        easy = mps_j < e_qpu or (bound.light_cone or n) < n
        print(f"  WARNING {line}: easy classically, the state-vector cross-over is meaningless for this circuit"
              if easy else f"  {line}")
    return out


def _run(args: argparse.Namespace) -> int:
    if args.list_profiles:
        for name in builtin_profile_names():
            profile = load_profile(name)
            print(f"{name:24s}{profile.kind.value:11s}{profile.description}")
        return 0
    ns = _parse_range(args.qubits)
    _check_options(args)
    if args.recalibrate and not args.preset:
        raise ValueError("--recalibrate needs --preset")
    setup = _setup(args)
    n_min, n_max = ns.start, ns.stop - 1

    curves = ([simulation_curve(p, setup.circuit, ns, setup.precision, args.batch)
               for p in setup.sims]
              + [qpu_curve(q, setup.circuit, ns, setup.shots, setup.noise_aware)
                 for q in setup.qpus])
    scenarios = [Scenario(s, q, setup.circuit, setup.shots, setup.precision, args.batch,
                          setup.noise_aware) for s in setup.sims for q in setup.qpus]
    crossovers = [find_crossover(sc, n_min, n_max) for sc in scenarios]
    intervals = {(sc.simulator.name, sc.qpu.name): n_star_interval(sc, n_min, n_max, args.draws, args.seed)
                 for sc in scenarios}
    rankings = [rank_constants(sc, n_min, n_max) for sc in scenarios]
    price, intensity = _cost_constants(args)

    noise = " (noise-aware)" if setup.noise_aware else ""
    print(f"circuit: {setup.circuit.describe()}; shots {setup.shots}{noise}; "
          f"{setup.precision}; batch {args.batch}")
    for profile in setup.sims + setup.qpus:
        note = setup.power.get(profile.name)
        extra = f"  [power: {note['method']}: {note['detail']}]" if note else ""
        print(f"  {profile.kind.value:9s} {profile.name}: {profile.description}{extra}")
    if setup.fit is not None:
        fit = setup.fit
        print(f"  calibration: eta = {fit.eta:.3g} (range {fit.eta_min:.3g}-{fit.eta_max:.3g}, "
              f"{len(fit.records)} records of {fit.simulator} on {fit.device}; "
              f"skipped {dict(fit.skipped)})")
        if setup.energy_fit is not None:
            for line in setup.energy_fit.summary():
                print(f"  {line}")
        else:
            print(f"  energy fit: not used ({setup.energy_fit_note}); power as shown above")
    print("model:")
    for line in FORMULA:
        print(f"  {line}")
    print()
    stars = {c.n_star for c in crossovers if c.n_star is not None}
    _print_table(curves, sorted(set(range(n_min, n_max + 1, args.step)) | stars))
    print("\ncross-over (smallest integer n with E_qpu <= E_sim) and memory wall:")
    for crossover in crossovers:
        print(f"  {crossover.summary()}")
    _print_matrix(setup.sims, setup.qpus, intervals)
    sweep = None
    if not args.no_sweep:
        sweep_scenario = setup.preset.scenario() if setup.preset else scenarios[0]
        try:
            sweep = sweep_shots_layers(sweep_scenario, _parse_list("--sweep-shots", args.sweep_shots),
                                       _parse_list("--sweep-layers", args.sweep_layers), n_min, n_max,
                                       min(args.draws, SWEEP_DRAWS), args.seed)
            _print_sweep(sweep)
        except ValueError as exc:
            if "no layers to sweep" not in str(exc):
                raise
            print(f"\nshots x depth sweep: not available ({exc})")
    print("\nbreakdown at n* (energy and time-to-solution per inference):")
    for scenario, crossover, (_, effects) in zip(scenarios, crossovers, rankings):
        _print_breakdown(scenario, crossover, effects[:DOMINANT_SHOWN])
    costs = _print_costs(crossovers, price, intensity)
    print("\nbest classical alternative (light cone of the measured qubit, MPS bound):")
    classical = _print_classical(setup, crossovers, scenarios, args.measure_mps)
    if not any(c["mps_energy_j"] is not None for c in classical):
        print("  no gate list for this circuit (or no cross-over): light cone and MPS bound not available")

    solved = None
    if setup.preset is not None:
        print()
        solved = recalibrate(setup.preset) if args.recalibrate else None
        unfitted = n_star_interval(setup.preset.scenario(calibrated=False), n_min, n_max, args.draws, args.seed)
        _print_preset(setup.preset, solved, unfitted)

    sensitivities = []
    if args.sensitivity:
        for scenario, (nominal, effects) in zip(scenarios, rankings):
            _print_ranking(scenario, nominal, effects)
            sensitivities.append({"simulator": scenario.simulator.name, "qpu": scenario.qpu.name,
                                  "n_star": nominal, "effects": [e.to_dict() for e in effects]})

    if args.json:
        preset = setup.preset
        atomic_write_json(args.json, {
            "schema": JSON_SCHEMA,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "scenario": {"circuit": setup.circuit.describe(), "shots": setup.shots,
                         "precision": setup.precision, "batch": args.batch,
                         "noise_aware": setup.noise_aware, "qubits": [n_min, n_max]},
            "profiles": [p.to_dict() for p in setup.sims + setup.qpus],
            "power": setup.power,
            "calibration": setup.fit.to_dict() if setup.fit else None,
            "energy_calibration": setup.energy_fit.to_dict() if setup.energy_fit else None,
            "curves": [c.to_dict() for c in curves],
            "crossovers": [c.to_dict() for c in crossovers],
            "n_star_intervals": [{"simulator": k[0], "qpu": k[1], **v.to_dict()} for k, v in intervals.items()],
            "classical": classical,
            "sweep": sweep.to_dict() if sweep else None,
            "costs": {"electricity_price": price.to_dict(), "grid_intensity": intensity.to_dict(),
                      "at_n_star": costs},
            "sensitivity": sensitivities,
            "preset": None if preset is None else {**preset.to_dict(),
                                                   "recalibrated_interval": solved},
        })
        print(f"\nwrote {args.json}")
    if args.plot:
        from energy.plot import plot_energy  # matplotlib is imported only for a plot

        family = setup.circuit.describe()["family"]
        title = (setup.preset.title if setup.preset
                 else f"Energy per inference: {family}, {setup.shots} shots")
        bands = {}
        for scenario in scenarios:  # each profile's band from the first pair it is in
            drawn = energy_bands(scenario, ns, min(args.draws, PLOT_DRAWS), args.seed)
            bands.setdefault(scenario.simulator.name, drawn["simulator"])
            bands.setdefault(scenario.qpu.name, drawn["qpu"])
        plot_energy(curves, crossovers, args.plot, title, bands, intervals)
        print(f"wrote {args.plot}")
    return 0


#: The ``qhybrid energy`` sub-command (entry point ``energy`` of the ``qhybrid.commands`` group).
COMMAND = SimpleNamespace(help="energy per inference and the QPU/GPU cross-over (energy.cli)",
                          add_arguments=add_arguments, run=run)


def main(argv: list[str] | None = None) -> int:
    """``python -m energy``: parse ``argv`` and run the energy command."""
    parser = argparse.ArgumentParser(
        prog="python -m energy",
        description="Energy per inference: statevector simulation versus a QPU, "
        "and the cross-over qubit count.",
    )
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # python -m energy.cli
    raise SystemExit(main())
