"""Communication overlap and lower power while communicating in the distributed simulation model."""

import numpy as np
import pytest

from energy.crossover import Scenario
from energy.circuits import PaperHead
from energy.profiles import EnergyProfileError, load_profile
from energy.simulation import simulation_energy
from energy.uncertainty import rank_constants, sample_profile
from test_energy_models import ONE_QUBIT_GATES, sim_profile

#: 4 devices, 2 per node, exchanges paid at a quarter of the board power (test_energy_models).
DISTRIBUTED = dict(memory_per_device=(3000, "B"), devices_per_node=(2, "1"), comm_power_utilisation=(0.25, "1"))


@pytest.mark.parametrize("overlap", [0.0, 0.3, 1.0])
def test_overlap_hides_part_of_the_exchange_time_and_energy(overlap):
    base = simulation_energy(ONE_QUBIT_GATES, sim_profile(**DISTRIBUTED))
    est = simulation_energy(ONE_QUBIT_GATES, sim_profile(**DISTRIBUTED, comm_overlap=(overlap, "1")))
    hidden = min(overlap * base.t_comm, base.t_compute)
    assert est.t_comm == pytest.approx(base.t_comm) and est.t_compute == pytest.approx(base.t_compute)
    assert est.t_comm_exposed == pytest.approx(base.t_comm - hidden)
    assert est.time_s == pytest.approx(base.t_compute + base.t_comm - hidden)
    # compute at 4 x 100 W, the exposed exchange at 4 x 25 W, the hidden part costs nothing extra
    assert est.energy_j == pytest.approx(400 * est.t_compute + 100 * (base.t_comm - hidden))
    assert est.energy_comm_j == pytest.approx(100 * est.t_comm_exposed)


def test_hidden_time_never_exceeds_the_compute_time():
    # a slow network: the exchanges take far longer than the passes, so full overlap hides only t_compute
    slow = dict(DISTRIBUTED, inter_node_bandwidth=(1, "MB/s"), comm_overlap=(1.0, "1"))
    est = simulation_energy(ONE_QUBIT_GATES, sim_profile(**slow))
    assert est.t_comm > 10 * est.t_compute
    assert est.t_comm_exposed == pytest.approx(est.t_comm - est.t_compute)
    assert est.time_s == pytest.approx(est.t_comm)


def test_overlap_is_a_fraction_in_zero_one():
    for bad in (-0.1, 1.5):
        with pytest.raises(EnergyProfileError, match=r"comm_overlap.*must be"):
            sim_profile(comm_overlap=(bad, "1"))


@pytest.mark.parametrize("name", ["h100", "h200", "a100", "dgx-h100", "frontier"])
def test_gpu_profiles_give_overlap_and_waiting_power_ranges(name):
    profile = load_profile(name)
    overlap, waiting = profile.constants["comm_overlap"], profile.constants["comm_power_utilisation"]
    assert overlap.uncertain and overlap.range[0] == 0.0 and overlap.range[1] <= 1.0
    assert waiting.uncertain and waiting.range[1] <= 1.0
    assert "doi:" in overlap.source or "docs" in overlap.source
    draws = sample_profile(profile, 400, np.random.default_rng(0))
    assert draws["comm_overlap"].min() >= 0.0 and draws["comm_overlap"].max() <= overlap.range[1]
    assert np.ptp(draws["comm_overlap"]) > 0.25 * overlap.range[1]      # the Monte Carlo really varies it


def test_overlap_moves_n_star_where_communication_matters():
    """Frontier vs Forte: exchanges are half the simulation energy at n*, so overlap lowers E_sim and raises n*."""
    sc = Scenario(load_profile("frontier"), load_profile("ionq-forte"), PaperHead(), shots=1000)
    _, effects = rank_constants(sc, 30, 50)
    by_name = {(e.side, e.name): e for e in effects}
    assert by_name[("simulator", "comm_overlap")].shift > 0.05
    assert by_name[("simulator", "comm_power_utilisation")].shift < -0.05
