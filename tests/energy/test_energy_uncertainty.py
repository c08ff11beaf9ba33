"""Ranges on every constant, the interpolated cross-over, the Monte Carlo interval, the ranking, MPS bound."""

import math
import tomllib

import numpy as np
import pytest

from energy.circuits import HardwareEfficient, PaperHead
from energy.classical import CORE_FLOPS, CORE_POWER_W, SVD_FLOP_FACTOR, classical_bound, light_cone
from energy.crossover import Scenario
from energy.profiles import EnergyProfileError, _builtin_dir, builtin_profile_names, load_profile, parse_profile
from energy.uncertainty import interpolated_n_star, n_star_interval, nominal_n_star, rank_constants


@pytest.mark.parametrize("name", builtin_profile_names())
def test_every_builtin_constant_has_a_range_and_a_findable_source(name):
    raw = tomllib.loads((_builtin_dir() / f"{name}.toml").read_text())
    profile = load_profile(name)
    for field, constant in profile.constants.items():
        assert "low" in raw[field] and "high" in raw[field], f"{name}.{field}: no range"
        low, high = constant.range
        assert low <= constant.value <= high
        assert constant.tag != "C", f"{name}.{field}: fitted values live in energy/presets.py"
        if constant.tag != "A":  # an assumption states its reasoning; everything else cites where to look
            source = constant.source
            assert any(mark in source for mark in ("http", "§", ".md", ".py", "Nature", "arXiv", "bench")), (
                f"{name}.{field}: source not specific enough: {source}")


def test_a_range_must_contain_the_value():
    data = {"name": "q", "kind": "qpu", "schedule": "serial",
            **{k: {"value": v, "unit": u, "source": "s"} for k, v, u in [
                ("max_qubits", 10, "1"), ("t_1q", 10, "us"), ("t_2q", 100, "us"), ("t_readout", 100, "us"),
                ("t_prep", 0, "s")]},
            "system_power": {"value": 5, "low": 6, "high": 8, "unit": "kW", "source": "s"}}
    with pytest.raises(EnergyProfileError, match=r"range \[6000, 8000\] \(SI\) must contain the value 5000"):
        parse_profile(data, "q.toml")
    data["system_power"].update(low=-1)
    with pytest.raises(EnergyProfileError, match="low -1 kW: must be > 0"):
        parse_profile(data, "q.toml")


def test_interpolation_of_the_log_energy_gap_by_hand():
    """E_sim = 2^n, E_qpu = 2^10.5 constant: ln-gap r(n) = (10.5 - n) ln 2 crosses zero at 10.5 exactly."""
    ns = list(range(4, 20))
    e_sim = np.array([[2.0**n] for n in ns])
    e_qpu = np.full_like(e_sim, 2.0**10.5)
    assert interpolated_n_star(ns, e_sim, e_qpu)[0] == pytest.approx(10.5)
    # never crossing -> NaN; crossing at the first point -> the range's lower end
    assert math.isnan(interpolated_n_star(ns, e_sim, np.full_like(e_sim, 2.0**30))[0])
    assert interpolated_n_star(ns, e_sim, np.full_like(e_sim, 1.0))[0] == 4


def _sim(**ranges):
    fields = {"memory_per_device": (1, "PB"), "bandwidth_per_device": (1, "GB/s"), "efficiency": (1, "1"),
              "device_power": (100, "W"), "max_devices": (1, "1"), "intra_node_bandwidth": (1, "GB/s"),
              "inter_node_bandwidth": (1, "GB/s"), "usable_memory_fraction": (1, "1"), "fusion_level": (0, "1")}
    data = {"name": "s", "kind": "simulator"}
    data.update({k: {"value": v, "unit": u, "source": "t"} for k, (v, u) in fields.items()})
    for k, (low, high) in ranges.items():
        data[k].update(low=low, high=high)
    return parse_profile(data, "s.toml")


def _analytic(power_w, shots):
    """sim_profile vs ideal QPU (1 kW, 1 us gates) on a HardwareEfficient(0) circuit: n RY gates, level 0.

    E_sim = P * (n + 1) * 2 * 8 * 2^n / 1e9;  E_qpu = 1e3 * shots * n * 1e-6.  Interpolate ln E_qpu - ln E_sim.
    """
    def gap(n):
        return math.log(1e3 * shots * n * 1e-6) - math.log(power_w * (n + 1) * 16 * 2.0**n / 1e9)
    n = next(k for k in range(1, 80) if gap(k) <= 0)
    return n - 1 + gap(n - 1) / (gap(n - 1) - gap(n))


def test_nominal_and_monte_carlo_against_the_closed_form():
    ideal = load_profile("ideal")
    fixed = Scenario(_sim(), ideal, HardwareEfficient(layers=0), 1000)
    assert nominal_n_star(fixed, 2, 60) == pytest.approx(_analytic(100, 1000), abs=1e-9)
    # device power 25-400 W (log-uniform): n* spans the closed form at 400 W .. 25 W; the median is at 100 W
    varied = Scenario(_sim(device_power=(25, 400)), ideal, HardwareEfficient(layers=0), 1000)
    iv = n_star_interval(varied, 2, 60, draws=4000, seed=1)
    assert _analytic(400, 1000) <= iv.low < iv.median < iv.high <= _analytic(25, 1000)
    assert iv.median == pytest.approx(_analytic(100, 1000), abs=0.1)
    assert iv.no_crossover == 0 and iv.nominal == pytest.approx(_analytic(100, 1000))
    again = n_star_interval(varied, 2, 60, draws=4000, seed=1)
    assert (again.low, again.high) == (iv.low, iv.high)  # seeded


def test_ranking_uses_the_interpolated_n_star_of_each_range_end():
    ideal = load_profile("ideal")
    scenario = Scenario(_sim(device_power=(50, 200), efficiency=(0.5, 1)), ideal, HardwareEfficient(layers=0), 1000)
    nominal, effects = rank_constants(scenario, 2, 60)
    power = next(e for e in effects if e.name == "device_power")
    assert power.n_star_low == pytest.approx(_analytic(50, 1000), abs=1e-9)
    assert power.n_star_high == pytest.approx(_analytic(200, 1000), abs=1e-9)
    # halving eta doubles E_sim like doubling P: same shift; both below one qubit, both shown
    eff = next(e for e in effects if e.name == "efficiency")
    assert eff.n_star_low == pytest.approx(_analytic(200, 1000), abs=1e-9)
    assert 0 < abs(eff.shift) < 1.5 and {e.name for e in effects} == {"device_power", "efficiency"}


def test_light_cone_and_mps_bound_by_hand():
    """Paper head C=1 on n qubits: CNOT(i, i+1) plus the wrap CNOT(n-1, 0), two layers.  Cut i is crossed by
    one nearest-neighbour CNOT and the wrap per layer: 4 gates -> chi <= 2^4 = 16 (for n >= 10)."""
    n = 20
    spec = PaperHead()(n)
    bound = classical_bound(spec)
    assert bound.bond_dimension == 16
    gates = 5 * n
    assert bound.mps_flops == pytest.approx(gates * SVD_FLOP_FACTOR * 32.0**3)
    assert bound.mps_energy_j == pytest.approx(bound.mps_flops / CORE_FLOPS * CORE_POWER_W)
    assert light_cone(spec) == n  # the ring reaches every qubit
    # a chain of CNOTs towards qubit 0 only: 0's cone holds 0 and its partners
    from energy.circuits import spec_from_wires
    assert light_cone(spec_from_wires(6, [(2, 3), (0, 1), (4, 5)])) == 2


def test_calibration_counts_passes_at_the_bench_fusion_level():
    from energy.calibrate import calibrated_profile, fit_efficiency
    from qsim.program import DEFAULT_FUSION

    rec = {"workload": "W1", "simulator": "qhybrid-numba", "device": "cpu", "status": "ok", "n_qubits": 24,
           "batch": 1, "bytes_per_amplitude": 16, "dtype": "complex128", "n_passes": 10, "n_gates": 30,
           "time_s": {"median": 10 * 2 * 16 * 2**24 / (0.5 * 4e9)}}
    bench = {"machine": {"copy_bandwidth_bytes_per_s": 4e9}, "records": [rec]}
    profile = calibrated_profile(load_profile("cpu"), fit_efficiency(bench), bench["machine"])
    assert profile["fusion_level"] == DEFAULT_FUSION and profile["efficiency"] == pytest.approx(0.5)
