"""Cost and CO2 per inference, the shots x depth sweep, and their CLI output and JSON."""

import json
import math

import pytest

from energy.__main__ import main
from energy.circuits import PaperHead, family_from_factory
from energy.costs import ELECTRICITY_PRICE, GRID_INTENSITY, JOULES_PER_KWH, SourcedConstant, inference_cost
from energy.crossover import Scenario
from energy.profiles import load_profile
from energy.uncertainty import n_star_interval, sweep_shots_layers


def test_cost_and_co2_of_one_kwh():
    cost = inference_cost(JOULES_PER_KWH)
    assert cost.kwh == 1.0
    assert cost.cost_usd == ELECTRICITY_PRICE.value and cost.co2_g == GRID_INTENSITY.value
    assert cost.cost_usd_range == (ELECTRICITY_PRICE.low, ELECTRICITY_PRICE.high)
    assert cost.co2_g_range == (GRID_INTENSITY.low, GRID_INTENSITY.high)
    site = inference_cost(7.2e6, ELECTRICITY_PRICE.override(0.2, "site"), GRID_INTENSITY.override(50, "site"))
    assert (site.cost_usd, site.co2_g, site.cost_usd_range) == (pytest.approx(0.4), pytest.approx(100.0),
                                                                 (pytest.approx(0.4), pytest.approx(0.4)))
    with pytest.raises(ValueError, match="energy = -1"):
        inference_cost(-1.0)


@pytest.mark.parametrize("constant", [ELECTRICITY_PRICE, GRID_INTENSITY])
def test_cost_constants_have_a_range_and_a_findable_source(constant):
    assert constant.low < constant.value < constant.high
    assert "https://" in constant.source and constant.tag in ("P", "S")
    with pytest.raises(ValueError, match="must be finite and > 0"):
        constant.override(0.0, "x")
    with pytest.raises(ValueError, match="outside its range"):
        SourcedConstant("x", 5.0, 1.0, 2.0, "u", "A", "s")


def scenario(**kw):
    return Scenario(load_profile("h100"), load_profile("ionq-forte"), PaperHead(), shots=1000, **kw)


def test_sweep_cells_are_the_intervals_of_each_shots_and_layers():
    sweep = sweep_shots_layers(scenario(), (100, 10000), (1, 3), 20, 60, draws=40, seed=3)
    assert (sweep.shots, sweep.layers) == ((100, 10000), (1, 3))
    direct = n_star_interval(Scenario(load_profile("h100"), load_profile("ionq-forte"), PaperHead(layers=3),
                                      shots=10000), 20, 60, 40, 3)
    assert sweep.cells[1][1] == direct
    # 100x the shots is 100x the QPU energy against ~2^n simulation energy: n* moves up by about log2(100)
    shift = sweep.cells[1][0].nominal - sweep.cells[0][0].nominal
    assert 5.0 < shift < 8.0
    cells = sweep.to_dict()["cells"]
    assert cells[0][1]["shots"] == 100 and cells[0][1]["layers"] == 3


def test_sweep_refuses_families_without_layers_and_bad_values():
    factory = scenario().__class__(load_profile("h100"), load_profile("ionq-forte"),
                                   family_from_factory("energy.circuits:PaperHead"), shots=10)
    with pytest.raises(ValueError, match="no layers to sweep"):
        sweep_shots_layers(factory, (10,), (1,), 10, 20, draws=5)
    with pytest.raises(ValueError, match="sweep shots"):
        sweep_shots_layers(scenario(), (0,), (1,), 10, 20, draws=5)


def test_cli_prints_sweep_and_costs_and_writes_them(tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["--sim", "h100", "--qpu", "ionq-forte", "--qubits", "20:50", "--draws", "60",
                 "--sweep-shots", "100,1000", "--sweep-layers", "1,2", "--electricity-price", "0.2",
                 "--grid-intensity", "100", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shots x depth: n* [90% interval] of h100 vs ionq-forte" in printed
    assert "cost and CO2 per inference at n* (QPU energy at n*; 0.2 USD/kWh [0.2, 0.2], 100 gCO2/kWh" in printed
    data = json.loads(out.read_text())
    (row,) = data["costs"]["at_n_star"]
    crossover = data["crossovers"][0]
    assert row["n_star"] == crossover["n_star"]
    assert row["qpu_cost"]["cost_usd"] == pytest.approx(crossover["e_qpu_j"] / 3.6e6 * 0.2)
    assert row["qpu_cost"]["co2_g"] == pytest.approx(crossover["e_qpu_j"] / 3.6e6 * 100)
    assert f"h100 vs ionq-forte at n = {row['n_star']}: " in printed
    assert data["costs"]["grid_intensity"]["source"] == "--grid-intensity"
    assert [len(r) for r in data["sweep"]["cells"]] == [2, 2]
    assert not math.isnan(data["sweep"]["cells"][1][0]["nominal"])


@pytest.mark.parametrize("args,message", [
    (["--electricity-price", "0"], "--electricity-price = 0.0: must be a finite number > 0"),
    (["--grid-intensity", "-5"], "--grid-intensity = -5.0: must be a finite number > 0"),
    (["--grid-intensity", "nan"], "--grid-intensity = nan"),
    (["--sweep-shots", "100,x"], "--sweep-shots '100,x': expected integers"),
    (["--sweep-layers", "0,2"], "--sweep-layers '0,2': every value must be >= 1"),
    (["--sweep-layers", ",".join(["1"] * 9)], "at most 8 values"),
])
def test_bad_cost_and_sweep_options_are_one_line_exit_2(args, message, capsys):
    assert main(args + ["--qubits", "10:12"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
