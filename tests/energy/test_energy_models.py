"""Simulation and QPU energy models: analytic cases, units, monotonicity."""

import math

import pytest

from energy.circuits import CircuitSpec, HardwareEfficient, PaperHead, spec_from_wires
from energy.profiles import load_profile, parse_profile
from energy.qpu import circuit_fidelity, qpu_energy, shots_for_precision
from energy.simulation import devices_needed, memory_wall, simulation_energy


def sim_profile(**values):
    """A simulator profile with round numbers; ``values`` override ``(value, unit)`` pairs."""
    fields = {
        "memory_per_device": (1, "PB"), "bandwidth_per_device": (1, "GB/s"),
        "efficiency": (0.5, "1"), "device_power": (100, "W"), "max_devices": (1024, "1"),
        "intra_node_bandwidth": (10, "GB/s"),
        "inter_node_bandwidth": (1, "GB/s"), "usable_memory_fraction": (1, "1"),
    }
    fields.update(values)
    data = {"name": "test-sim", "kind": "simulator"}
    data.update({k: {"value": v, "unit": u, "source": "test"} for k, (v, u) in fields.items()})
    return parse_profile(data, "test-sim.toml")


ONE_QUBIT_GATES = CircuitSpec(10, {1: 9}, 9, 0)


def test_single_device_energy_is_passes_times_bytes_over_bandwidth_times_power():
    est = simulation_energy(ONE_QUBIT_GATES, sim_profile(), "complex64")
    passes = 9 + 1  # gates + measurement pass
    t = passes * 2 * 8 * 2**10 / (0.5 * 1e9)
    assert est.devices == 1 and est.feasible and est.t_comm == 0.0
    assert est.time_s == pytest.approx(t, rel=1e-12)
    assert est.energy_j == pytest.approx(100 * t, rel=1e-12)


def test_power_includes_utilisation_host_and_pue():
    profile = sim_profile(power_utilisation=(0.5, "1"), host_power_per_device=(30, "W"),
                          pue=(1.2, "1"))
    est = simulation_energy(ONE_QUBIT_GATES, profile)
    assert est.power_w == pytest.approx((0.5 * 100 + 30) * 1.2)


def test_complex128_doubles_the_bandwidth_bound_energy():
    e64 = simulation_energy(ONE_QUBIT_GATES, sim_profile(), "complex64").energy_j
    e128 = simulation_energy(ONE_QUBIT_GATES, sim_profile(), "complex128").energy_j
    assert e128 == pytest.approx(2 * e64)


def test_devices_are_a_power_of_two_and_exchange_slices():
    # 2^10 amplitudes x 8 B = 8192 B on 3000 B devices -> 3 needed -> 4 devices, g = 2 global qubits,
    # 2 devices per node (rank bit 0 inside a node).  Without a gate list every gate acts on a global wire
    # with probability min(1, a g / n) = 2/10 and is exchanged alone: 9 * 0.2 = 1.8 gates, two one-pair steps
    # each on the top rank bit (bit 1, across nodes): each step sends half of the S/N slice to one device
    # over the network.
    profile = sim_profile(memory_per_device=(3000, "B"), devices_per_node=(2, "1"),
                          comm_power_utilisation=(0.25, "1"))
    est = simulation_energy(ONE_QUBIT_GATES, profile)
    assert est.devices == 4
    slice_bytes = 8192 / 4
    assert est.remaps == pytest.approx(2 * 9 * 2 / 10)
    assert est.exchange_slices == pytest.approx(3.6 * 0.5)
    assert est.t_comm == pytest.approx(3.6 * slice_bytes / 2 / 1e9)
    assert est.power_w == pytest.approx(4 * 100)
    assert est.power_comm_w == pytest.approx(4 * 25)  # waiting draws u_comm P_dev
    assert est.energy_j == pytest.approx(400 * est.t_compute + 100 * est.t_comm)
    assert devices_needed(8192, profile) == 4


def test_passes_come_from_qsim_lowering():
    """Paper head C=1 on n qubits: n RY, then n x (CNOT, RY target).  Level 0/1: one pass per gate except
    that nothing fuses (each RY follows a CNOT on its wire) -> 3n passes, the n CNOT passes touching half the
    state -> 2.5n sweeps; level 2 absorbs every RY into the CNOT pass on its wire -> n passes of full sweeps.
    (Default head: 1 layer + 1 final layer -> 5n gates.)"""
    from energy.lowering import circuit_work

    n = 12
    spec = PaperHead()(n)  # 3n RY... : n encoding RY + 2 layers x n (CNOT + RY)
    level1 = circuit_work(None, spec, 1)
    assert level1.passes == 5 * n + 1 and level1.sweeps == pytest.approx(4 * n + 1)
    level2 = circuit_work(None, spec, 2)
    assert level2.passes == 2 * n + 1 and level2.sweeps == pytest.approx(2 * n + 1)
    # beyond qsim's 40-qubit circuits the (linear) counts are extrapolated from n = 39, 40
    big = circuit_work(PaperHead(), PaperHead()(46), 2)
    assert big.passes == 2 * 46 + 1 and "linear" in big.method


def test_kernel_launch_floor_and_batch_amortisation():
    profile = sim_profile(kernel_launch=(1, "s"))
    assert simulation_energy(ONE_QUBIT_GATES, profile).t_pass == 1.0
    assert simulation_energy(ONE_QUBIT_GATES, profile, batch=4).t_pass == 0.25


def test_fusion_divides_passes():
    est = simulation_energy(CircuitSpec(10, {1: 12}, 12, 0), sim_profile(fusion_factor=(4, "1")))
    assert est.passes == 3 + 1


@pytest.mark.parametrize(
    ("name", "precision", "wall"),
    # anchors §1.2: H100 80 GB holds 33 (c64) / 32 (c128); an 8-GPU node 36 / 35; Frontier 48 / 47.
    [("h100", "complex64", 34), ("h100", "complex128", 33), ("dgx-h100", "complex64", 37),
     ("dgx-h100", "complex128", 36), ("frontier", "complex64", 49), ("frontier", "complex128", 48),
     ("h200", "complex64", 34), ("a100", "complex64", 34)],
)
def test_memory_walls_match_the_anchor_table(name, precision, wall):
    profile = load_profile(name)
    assert memory_wall(profile, precision) == wall
    head = PaperHead()
    assert simulation_energy(head(wall - 1), profile, precision).feasible
    assert not simulation_energy(head(wall), profile, precision).feasible


@pytest.mark.parametrize("name", ["cpu", "a100", "h100", "h200", "dgx-h100", "frontier"])
def test_simulation_energy_grows_with_qubits(name):
    profile = load_profile(name)
    energies = [simulation_energy(PaperHead()(n), profile).energy_j for n in range(4, 56)]
    # never falling; a blocked CPU engine runs n <= 14 in one cache-resident call (launch-bound, flat)
    assert all(b >= a for a, b in zip(energies, energies[1:]))
    assert all(b > a for a, b in zip(energies[16:], energies[17:]))
    # past the launch-bound region every extra qubit at least doubles the bandwidth-bound energy
    assert energies[-1] / energies[-2] > 2.0


def test_simulation_energy_falls_with_bandwidth_and_efficiency():
    circuit = PaperHead()(30)
    base = simulation_energy(circuit, load_profile("h100")).energy_j
    faster = load_profile("h100").with_constant("bandwidth_per_device", 6.7e12, source="t")
    better = load_profile("h100").with_constant("efficiency", 0.9, source="t")
    assert simulation_energy(circuit, faster).energy_j < base
    assert simulation_energy(circuit, better).energy_j < base


def test_serial_qpu_energy_analytic():
    ideal = load_profile("ideal")  # 1 us gates, no overheads, 1 kW
    circuit = CircuitSpec(5, {1: 7, 2: 4}, 6, 4)
    est = qpu_energy(circuit, ideal, shots=1000)
    assert est.t_shot == pytest.approx(11e-6)
    assert est.energy_j == pytest.approx(1000 * 1000 * 11e-6)


def test_layered_qpu_uses_depth():
    sc = load_profile("superconducting")
    circuit = spec_from_wires(4, [(0,), (1,), (2,), (3,), (0, 1), (2, 3)])  # d1 = 1, d2 = 1
    est = qpu_energy(circuit, sc, shots=10)
    t_shot = 25e-9 + 12e-9 + 1e-6 + 200e-6
    assert est.t_circuit == pytest.approx(37e-9)
    assert est.energy_j == pytest.approx(25e3 * 10 * t_shot)


def test_qpu_energy_linear_in_qubits_and_shots():
    forte = load_profile("ionq-forte")
    head = PaperHead()
    energies = [qpu_energy(head(n), forte, 100).energy_j for n in range(4, 40)]
    steps = [b - a for a, b in zip(energies, energies[1:])]
    assert max(steps) == pytest.approx(min(steps), rel=1e-9)  # g1 = 3n, g2 = 2n: linear in n
    assert qpu_energy(head(20), forte, 200).energy_j == pytest.approx(2 * energies[16], rel=1e-3)


def test_shots_for_precision():
    assert shots_for_precision(0.1) == 100
    assert shots_for_precision(0.03) == 1112
    with pytest.raises(ValueError, match="target precision = 0"):
        shots_for_precision(0)


def test_noise_aware_shots_inflate_by_inverse_fidelity_squared():
    forte = load_profile("ionq-forte")
    circuit = PaperHead()(10)
    fidelity = circuit_fidelity(circuit, forte)
    assert fidelity == pytest.approx(0.9998**30 * 0.9941**20 * 0.9962**1)  # one measured qubit
    est = qpu_energy(circuit, forte, 1000, noise_aware=True)
    assert est.shots_effective == math.ceil(1000 / fidelity**2)
    assert est.energy_j > qpu_energy(circuit, forte, 1000).energy_j


def test_models_reject_the_wrong_profile_kind_and_bad_inputs():
    circuit = HardwareEfficient()(4)
    with pytest.raises(ValueError, match="is a qpu profile, expected a simulator"):
        simulation_energy(circuit, load_profile("ideal"))
    with pytest.raises(ValueError, match="is a simulator profile, expected a qpu"):
        qpu_energy(circuit, load_profile("h100"), 10)
    with pytest.raises(ValueError, match="shots = 0"):
        qpu_energy(circuit, load_profile("ideal"), 0)
    with pytest.raises(ValueError, match="precision 'complex32'"):
        simulation_energy(circuit, load_profile("h100"), "complex32")
