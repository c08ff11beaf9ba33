"""Memory sweeps of the cache-blocked plan and exchange steps of a distributed run (energy.lowering)."""

import numba
import numpy as np
import pytest

from energy.circuits import HardwareEfficient, PaperHead, spec_from_circuit, spec_from_wires
from energy.lowering import MEASUREMENT_PASSES, Blocking, Exchanges, circuit_work, exchanges
from energy.profiles import load_profile
from energy.simulation import blocking, simulation_energy
from qsim.backends import numba_backend
from qsim.circuit import Circuit, Weight, op
from qsim.gates import CNOT, RY, RZ
from qsim.hostinfo import cache_size
from qsim.program import DEFAULT_FUSION, lower
from qsim.program.plan import exchange_count, exchange_slices


def _host_blocking(itemsize: int, batch: int = 1) -> Blocking:
    return Blocking(cache_size(2), itemsize, numba.get_num_threads(), batch)


@pytest.mark.parametrize(("n", "batch", "itemsize"), [(15, 1, 16), (20, 1, 8), (24, 1, 16), (16, 4, 8), (30, 2, 16)])
def test_block_size_is_the_numba_backends_rule(n, batch, itemsize):
    """With this host's L2 share and thread count the energy model picks the backend's own k."""
    assert _host_blocking(itemsize, batch).local_qubits(n) == numba_backend.local_qubits(n, batch, itemsize)


def _layers(n: int, layers: int) -> Circuit:
    """RY on every qubit then a CNOT ring, ``layers`` times (the bench's W1 shape)."""
    ops, w = [], 0
    for _ in range(layers):
        for q in range(n):
            ops.append(op(RY, (q,), Weight(w)))
            w += 1
        ops += [op(CNOT, (q, (q + 1) % n)) for q in range(n)]
    return Circuit(n, tuple(ops))


@pytest.mark.parametrize(("n", "layers", "dtype"),
                         [(16, 2, np.complex128), (20, 3, np.complex64), (18, 4, np.complex128)])
def test_blocked_sweeps_equal_what_the_bench_measures(n, layers, dtype):
    """W (without the read-out) is the Numba backend's memory_sweeps: the bench's bandwidth columns and eta."""
    circuit = _layers(n, layers)
    work = circuit_work(None, spec_from_circuit(circuit), DEFAULT_FUSION,
                        blocking=_host_blocking(np.dtype(dtype).itemsize))
    program = lower(circuit, DEFAULT_FUSION)
    assert work.sweeps - MEASUREMENT_PASSES == numba_backend.memory_sweeps(program, 1, dtype)
    assert work.passes == work.sweeps and "qsim plan" in work.method
    assert work.sweeps < program.state_sweeps  # several passes per block run


def test_small_registers_run_in_one_cache_resident_call():
    work = circuit_work(PaperHead(), PaperHead()(12), 1, blocking=Blocking(2 * 2**20, 8, 2))
    assert (work.passes, work.sweeps) == (1 + MEASUREMENT_PASSES, 1 + MEASUREMENT_PASSES)
    assert "sample-major" in work.method


def test_gpu_profiles_sweep_once_per_pass_and_say_so():
    for name in ("h100", "h200", "a100", "dgx-h100", "frontier"):
        assert blocking(load_profile(name), "complex64") is None
    est = simulation_energy(PaperHead()(24), load_profile("h100"), "complex64")
    assert est.sweeps == 2 * 24 + MEASUREMENT_PASSES and "one sweep per pass, no cache blocking" in est.work


def test_cpu_profile_runs_the_blocked_plan_at_the_bench_fusion_level():
    profile = load_profile("cpu")
    assert profile["fusion_level"] == DEFAULT_FUSION
    assert blocking(profile, "complex64").local_qubits(28) == 17   # 0.5 * 2 MiB / 8 B = 2^17 amplitudes
    assert blocking(profile, "complex128").local_qubits(28) == 16
    est = simulation_energy(PaperHead()(28), profile, "complex64")
    assert "blocks of 2^17" in est.work and est.sweeps < est.n_qubits


def test_blocked_counts_past_qsims_qubit_limit_are_linear_from_39_and_40():
    b = Blocking(2 * 2**20, 8, 2)
    w39, w40, w44 = (circuit_work(PaperHead(), PaperHead()(n), 1, blocking=b) for n in (39, 40, 44))
    assert w44.sweeps == pytest.approx(w40.sweeps + 4 * (w40.sweeps - w39.sweeps))
    assert "linear from n = 39, 40" in w44.method


# ------------------------------------------------------------------------------------------ exchanges
def _as_qsim(spec) -> Circuit:
    """A wire-list spec as a qsim circuit: 1-wire gates as RY, 2-wire as CNOT (controls first)."""
    ops = [op(RY, w, Weight(i)) if len(w) == 1 else op(CNOT, w) for i, w in enumerate(spec.gates)]
    return Circuit(spec.n_qubits, tuple(ops))


def _circuit(n, ops):
    return spec_from_circuit(Circuit(n, tuple(ops)))


def test_a_pass_on_a_global_qubit_is_one_half_slice_swap():
    """One RY on qubit 0 (the top bit, a rank bit with g = 1): the distributed plan swaps it local
    (DISTRIBUTED_MIN_SWAP_GAIN = 1) and never swaps back (free layout): one step, half the slice."""
    ex = exchanges(None, _circuit(4, [op(RY, (0,), Weight(0))]), 0, 1)
    assert ex.steps == ((1.0, (0,)),) and ex.count == 1 and ex.slices == pytest.approx(0.5)
    twice = exchanges(None, _circuit(4, [op(RY, (0,), Weight(0)), op(RY, (0,), Weight(1))]), 0, 1)
    assert twice.steps == ((1.0, (0,)),)


def test_diagonal_passes_and_global_controls_move_no_data():
    rz = exchanges(None, _circuit(4, [op(RZ, (0,), Weight(0))]), 0, 1)
    assert rz.count == 0
    # the control on the global qubit 0 costs nothing; its target 1 stays local with g = 1
    assert exchanges(None, spec_from_wires(4, [(0, 1)]), 0, 1).count == 0


def test_exchanges_of_a_ring_match_a_hand_plan():
    """CNOT ring on 8 qubits, g = 2: qubits 0 and 1 sit at rank bits 1 and 0; only targets move data.
    CNOT(0, 1) needs qubit 1: it is swapped with the local qubit whose next use as a target is furthest
    (Belady), qubit 7, which goes to rank bit 0.  CNOT(6, 7) then needs qubit 7 back and CNOT(7, 0),
    next, needs qubit 0: one swap of both rank bits.  Two steps, 1/2 + 3/4 of a slice."""
    ex = exchanges(None, spec_from_wires(8, [(i, (i + 1) % 8) for i in range(8)]), 0, 2)
    assert ex.steps == ((1.0, (0,)), (1.0, (0, 1)))
    assert ex.count == 2 and ex.slices == pytest.approx(1.25)


@pytest.mark.parametrize(("head", "n", "g", "level"),
                         [(PaperHead(), 34, 2, 2), (PaperHead(), 40, 9, 1), (HardwareEfficient(2), 36, 12, 2)])
def test_exchange_totals_are_qsims_own_count(head, n, g, level):
    """One home: the totals are qsim.program.plan's exchange_count / exchange_slices (the MPI backend's
    plan); energy only adds which rank bits each step swaps (the links it uses)."""
    program = lower(_as_qsim(head(n)), level)
    ex = exchanges(head, head(n), level, g)
    assert ex.count == exchange_count(program, g)
    assert ex.slices == pytest.approx(exchange_slices(program, g))


def test_one_device_has_no_exchange():
    assert exchanges(PaperHead(), PaperHead()(30), 2, 0).count == 0


def test_a_step_over_every_rank_bit_is_one_all_to_all():
    """m = g rank bits, nu = log2 N_node inside a node: each device sends S/N / N to each of the N - 1
    others, N_node - 1 of them over the intra-node link (the earlier all-to-all formula)."""
    g, nu, slice_bytes, intra, inter = 5, 3, 2.0**30, 300e9, 25e9
    ex = Exchanges(((1.0, tuple(range(g))),), "test")
    n_dev, n_node = 2**g, 2**nu
    all_to_all = slice_bytes * ((n_node - 1) / (n_dev * intra) + (n_dev - n_node) / (n_dev * inter))
    assert float(ex.time(slice_bytes, nu, intra, inter)) == pytest.approx(all_to_all)
    assert ex.slices == pytest.approx(1 - 2.0**-g)
    # a step inside a node only: bits 0, 1 < nu = 3
    inside = Exchanges(((1.0, (0, 1)),), "test")
    assert float(inside.time(slice_bytes, nu, intra, inter)) == pytest.approx(slice_bytes * 3 / 4 / intra)
    # arrays of draws broadcast
    assert ex.time(np.full(3, slice_bytes), np.full(3, nu), intra, inter).shape == (3,)


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("head", [PaperHead(), HardwareEfficient(2)])
def test_exchange_count_depends_on_g_not_n(head, level):
    """The ground for using the n = 40 plan past qsim's limit (energy.lowering docstring)."""
    for g in (1, 4, 8, 12, 16):
        counts = {exchanges(head, head(n), level, g).steps for n in (34, 37, 40)}
        assert len(counts) == 1, (g, counts)
    big = exchanges(head, head(46), level, 12)
    assert big.steps == exchanges(head, head(40), level, 12).steps and "same 12 global" in big.method


def test_exchanges_reach_the_breakdown():
    est = simulation_energy(PaperHead()(34), load_profile("dgx-h100"), "complex128", family=PaperHead())
    assert est.devices == 4 and est.remaps > 0 and est.exchange_slices > 0
    assert "qsim distributed plan, 2 global qubits" in est.exchange_method
