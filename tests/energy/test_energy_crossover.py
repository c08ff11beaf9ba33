"""Cross-over, memory wall, sensitivity and constant solving."""

import math

import pytest

from energy.circuits import HardwareEfficient, PaperHead
from energy.crossover import Scenario, find_crossover, sensitivity, solve_constant
from energy.profiles import load_profile, parse_profile


def sim_profile(**values):
    fields = {
        "memory_per_device": (1, "PB"), "bandwidth_per_device": (1, "GB/s"), "efficiency": (1, "1"),
        "device_power": (100, "W"), "max_devices": (1, "1"), "intra_node_bandwidth": (1, "GB/s"),
        "inter_node_bandwidth": (1, "GB/s"), "usable_memory_fraction": (1, "1"),
    }
    fields.update(values)
    data = {"name": "test-sim", "kind": "simulator"}
    data.update({k: {"value": v, "unit": u, "source": "test"} for k, (v, u) in fields.items()})
    return parse_profile(data, "test-sim.toml")


def analytic_n_star(shots):
    """Closed form for sim_profile() vs the ideal QPU on a layer-free hardware-efficient circuit.

    n single-qubit gates: E_sim = 100 W * (n + 1) * 2 * 8 * 2^n / 1e9 B/s;
    E_qpu = 1 kW * shots * n * 1 us.
    """
    for n in range(1, 80):
        if 1e3 * shots * n * 1e-6 <= 100 * (n + 1) * 16 * 2**n / 1e9:
            return n
    return None


@pytest.mark.parametrize("shots", [1, 100, 10_000])
def test_crossover_matches_the_closed_form(shots):
    scenario = Scenario(sim_profile(), load_profile("ideal"), HardwareEfficient(layers=0), shots)
    result = find_crossover(scenario, 1, 60)
    assert result.n_star == analytic_n_star(shots)
    assert result.e_qpu <= result.e_sim


def test_memory_wall_is_reported_beside_the_crossover():
    small = sim_profile(memory_per_device=(2**20, "B"))  # holds 2^17 complex64 amplitudes
    scenario = Scenario(small, load_profile("ideal"), HardwareEfficient(layers=0), 10_000)
    result = find_crossover(scenario, 1, 60)
    assert result.memory_wall == 18
    assert result.n_star == analytic_n_star(10_000) > 18
    assert result.limit == "memory wall"
    assert "memory wall comes first" in result.summary()
    roomy = Scenario(sim_profile(), load_profile("ideal"), HardwareEfficient(layers=0), 1)
    assert find_crossover(roomy, 1, 60).limit == "cross-over"


def test_no_crossover_in_range_is_none():
    scenario = Scenario(sim_profile(), load_profile("ideal"), HardwareEfficient(layers=0), 10**9)
    result = find_crossover(scenario, 1, 12)
    assert result.n_star is None and "no energy cross-over" in result.summary()
    assert result.limit == "none"  # the 1 PB platform's memory wall lies beyond n = 12


def test_crossover_moves_up_with_qpu_power_and_down_with_simulation_power():
    scenario = Scenario(load_profile("dgx-h100"), load_profile("ionq-forte"), PaperHead(), 1000)
    base = find_crossover(scenario).n_star
    power = 16 * scenario.qpu["system_power"]
    hungrier_qpu = scenario.with_value("qpu", "system_power", power, source="t")
    hungrier_sim = scenario.with_value("simulator", "device_power", 16 * 700, source="t")
    assert find_crossover(hungrier_qpu).n_star > base
    assert find_crossover(hungrier_sim).n_star < base


def test_sensitivity_rows_cover_every_constant_and_shots():
    scenario = Scenario(load_profile("h100"), load_profile("ionq-forte"), PaperHead(), 1000)
    base, rows = sensitivity(scenario)
    names = {(r.side, r.name) for r in rows}
    assert ("run", "shots") in names and ("qpu", "system_power") in names
    assert len(rows) == len(scenario.simulator.constants) + len(scenario.qpu.constants) + 1
    power = next(r for r in rows if r.name == "system_power")
    watts = load_profile("ionq-forte")["system_power"]
    assert power.values == pytest.approx((watts / 2, watts * 2))
    # E_sim grows ~2x per qubit, so halving/doubling a linear constant moves n* by about one qubit
    assert power.n_star[0] <= base.n_star <= power.n_star[1] and power.n_star[0] < power.n_star[1]
    assert max(abs(n - base.n_star) for n in power.n_star) <= 2
    eff = next(r for r in rows if r.name == "efficiency")
    assert eff.values[1] == 1.0 and eff.note == "capped at 1"
    fid = next(r for r in rows if r.name == "fidelity_2q")
    assert fid.values == pytest.approx((1 - 0.0059 / 2, 1 - 0.0059 * 2))
    assert rows[0].max_shift >= rows[-1].max_shift


def test_solve_constant_finds_the_interval_for_a_target():
    scenario = Scenario(sim_profile(), load_profile("ideal"), HardwareEfficient(layers=0), 100)
    low, high = solve_constant(scenario, "qpu", "system_power", 20, 1.0, 1e9, 1, 60)
    for value in (low * 1.0001, math.sqrt(low * high), high * 0.9999):
        varied = scenario.with_value("qpu", "system_power", value, source="t")
        assert find_crossover(varied, 1, 60).n_star == 20
    above = scenario.with_value("qpu", "system_power", high * 1.001, source="t")
    assert find_crossover(above, 1, 60).n_star == 21
    with pytest.raises(ValueError, match="target 90 not reachable"):
        solve_constant(scenario, "qpu", "system_power", 90, 1.0, 10.0, 1, 60)
