r"""Energy of one inference when the circuit is statevector-simulated on a classical platform.

Gate application on a dense statevector is memory-bandwidth bound (arithmetic intensity below
0.4 FLOP/byte, anchors §1.3): each sweep over the state reads and writes the amplitudes it
touches once.  For a circuit on ``n`` qubits at ``b`` bytes per amplitude (8 for complex64, 16
for complex128, :data:`qsim.precision.PRECISIONS`) on a platform profile
(:mod:`energy.profiles`), with ``P`` passes and ``W`` memory sweeps counted by qsim's own
lowering and cache-blocked plan, and the exchange steps ``s`` of qsim's distributed plan (the
MPI backend's) on ``2^g`` devices (:mod:`energy.lowering`):

.. math::

    S &= b\,2^n  &&\text{state bytes}\\
    N &= 2^{g},\ g = \max(0, \lceil \log_2 (S / (u_{mem} M_{dev})) \rceil)
        &&\text{devices: a power of two, } g \text{ global qubits}\\
    t_{comp} &= \max\!\left(\frac{P\,t_{launch}}{B},\ \frac{2 S\,W}{N\,\eta\,BW_{dev}}\right)
        &&\text{roofline; launch cost shared by a batch of } B\\
    t_s &= \frac{S}{N}\,2^{-m_s}\left(\frac{2^{a_s} - 1}{BW_{intra}}
              + \frac{2^{m_s} - 2^{a_s}}{BW_{inter}}\right)
        &&\text{one exchange step: } m_s \text{ rank bits swapped, } a_s \text{ inside a node}\\
    t_{comm} &= \sum_s t_s, \qquad
    t_{hid} = \min(o\,t_{comm},\ t_{comp}), \qquad t_{exp} = t_{comm} - t_{hid}\\
    E_{sim} &= \mathrm{PUE}\,N\left[(u P_{dev} + P_{host})\,t_{comp}
              + (u_{comm} P_{dev} + P_{host})\,t_{exp}\right], \qquad t_{sim} = t_{comp} + t_{exp} .

A node holds ``N_node = min(N, N_per_node)`` devices; ranks are numbered node by node, so the
lowest ``floor(log2 N_node)`` rank bits stay inside a node (a step swapping all ``g`` rank bits is
one all-to-all: each device sends ``S/N^2`` to each of the others).  ``eta`` is per sweep as
:mod:`energy.lowering` counts it, the count the benchmark's bandwidth columns use: a CPU profile's
``eta`` is per step of the cache-blocked plan (a block run applies several passes in one sweep,
so its ``eta`` is lower than a lone pass's and transfers to circuits with a similar number of
passes per step), a GPU profile's per lowered pass.

``u P_dev`` is the board's draw in a memory-bound kernel, ``u_comm P_dev`` its draw while it waits
on the network (near idle), ``P_host`` the static share of host CPU, DRAM, NIC and fans, paid
all the time; ``PUE`` the facility overhead.  A fraction ``o`` (``comm_overlap``) of the exchange
time runs under gate passes (pipelined transfers, as cuStateVec's swap workers do), never more
than the compute time; that part costs no extra time or energy (the board is computing anyway, the
NIC's draw is inside ``P_host``); the exposed rest is paid at the waiting power.  Exact
expectation values need no shots: one simulation per input.  The platform is *feasible* when
``N <= max_devices``; beyond that (the memory wall) the formulas are still evaluated, as an
extrapolation to a larger machine of the same kind.

Every formula is written with NumPy so that :mod:`energy.uncertainty` evaluates thousands of
sampled profiles at once: :func:`simulation_energy_arrays` takes constants as arrays.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from energy.circuits import CircuitFamily, CircuitSpec
from energy.lowering import MEASUREMENT_PASSES, Blocking, Work, circuit_work, exchanges
from energy.profiles import Kind, Profile
from qsim.precision import PRECISIONS

__all__ = [
    "BYTES_PER_AMPLITUDE",
    "MEASUREMENT_PASSES",
    "SimulationEstimate",
    "blocking",
    "bytes_per_amplitude",
    "devices_needed",
    "memory_wall",
    "simulation_energy",
    "simulation_energy_arrays",
]

#: Bytes per complex amplitude by precision, named by its complex dtype (qsim's precision table,
#: :data:`qsim.precision.PRECISIONS`; anchors §1.2: qsim choose_hw.md, Aer issue #1646).
BYTES_PER_AMPLITUDE = {p.complex.__name__: p.bytes_per_amplitude for p in PRECISIONS.values()}


@dataclass(frozen=True)
class SimulationEstimate:
    """Energy and time of simulating one inference (all SI units)."""

    n_qubits: int
    state_bytes: float
    devices: int
    feasible: bool
    passes: float
    sweeps: float
    remaps: float
    exchange_slices: float
    t_pass: float
    t_compute: float
    t_comm: float
    t_comm_exposed: float
    time_s: float
    power_w: float
    power_comm_w: float
    energy_j: float
    energy_compute_j: float
    energy_comm_j: float
    work: str
    exchange_method: str = ""

    @property
    def exchange_passes(self) -> float:
        """Former name of :attr:`remaps` (exchange steps per simulation)."""
        return self.remaps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def bytes_per_amplitude(precision: str) -> int:
    """``b`` for ``"complex64"`` or ``"complex128"``; raises ``ValueError`` naming the bad value."""
    try:
        return BYTES_PER_AMPLITUDE[precision]
    except KeyError:
        raise ValueError(
            f"precision {precision!r}: must be one of {sorted(BYTES_PER_AMPLITUDE)}"
        ) from None


def _require_simulator(profile: Profile) -> None:
    if profile.kind is not Kind.SIMULATOR:
        raise ValueError(
            f"profile {profile.name!r} is a {profile.kind.value} profile, expected a simulator"
        )


def blocking(profile: Profile, precision: str, batch: int = 1) -> Blocking | None:
    """The cache-blocked engine's block rule with ``profile``'s ``block_cache`` and ``cores``
    (:class:`energy.lowering.Blocking`); ``None`` when ``block_cache`` is 0 (one sweep per pass)."""
    cache = profile["block_cache"]
    if cache <= 0:
        return None
    return Blocking(cache, bytes_per_amplitude(precision), int(profile["cores"]), int(batch))


def devices_needed(state_bytes: float, profile: Profile) -> int:
    """Smallest power of two ``N`` with ``state_bytes / N <= u_mem * M_dev`` (not capped)."""
    per_device = profile["usable_memory_fraction"] * profile["memory_per_device"]
    return 1 << max(0, math.ceil(math.log2(state_bytes / per_device)))


def memory_wall(profile: Profile, precision: str = "complex64") -> int:
    """Smallest qubit count the platform cannot hold: ``b 2^n > u_mem M_dev N_max``.

    ``N_max`` is the largest power of two not above ``max_devices``.
    """
    _require_simulator(profile)
    n_max_devices = 1 << int(math.floor(math.log2(profile["max_devices"])))
    capacity = profile["usable_memory_fraction"] * profile["memory_per_device"] * n_max_devices
    return math.floor(math.log2(capacity / bytes_per_amplitude(precision))) + 1


def simulation_energy_arrays(circuit: CircuitSpec, work: Work, c: Mapping[str, Any], precision: str,
                             batch: int = 1, family: CircuitFamily | None = None) -> dict[str, np.ndarray]:
    """The module formulas with constants ``c[name]`` as scalars or equal-length arrays (SI).

    ``family`` lets the exchange count use the plan of the largest lowerable circuit past qsim's
    qubit limit (:func:`energy.lowering.exchanges`).

    Returns arrays: ``devices``, ``remaps`` (exchange steps), ``exchange_slices`` (slices each
    device sends), ``t_compute``, ``t_comm`` (all exchanges), ``t_comm_exposed`` (not hidden under
    compute), ``time``, ``power``, ``power_comm``, ``energy_compute``, ``energy_comm``, ``energy``.
    """
    n = circuit.n_qubits
    state = bytes_per_amplitude(precision) * 2.0**n
    per_device = np.asarray(c["usable_memory_fraction"], float) * np.asarray(c["memory_per_device"], float)
    g = np.maximum(0, np.ceil(np.log2(state / per_device))).astype(int)
    devices = np.exp2(g)
    bandwidth = np.asarray(c["efficiency"], float) * np.asarray(c["bandwidth_per_device"], float)
    t_compute = np.maximum(work.passes * np.asarray(c["kernel_launch"], float) / batch,
                           2.0 * state * work.sweeps / (devices * bandwidth))
    per_node = np.minimum(devices, np.asarray(c["devices_per_node"], float))
    shape = np.broadcast(g, per_node, np.asarray(c["intra_node_bandwidth"]),
                         np.asarray(c["inter_node_bandwidth"])).shape
    node_bits = np.broadcast_to(np.floor(np.log2(per_node)), shape)
    intra = np.broadcast_to(np.asarray(c["intra_node_bandwidth"], float), shape)
    inter = np.broadcast_to(np.asarray(c["inter_node_bandwidth"], float), shape)
    slice_bytes = np.broadcast_to(state / devices, shape)
    g_all = np.broadcast_to(g, shape)
    level = int(np.asarray(c["fusion_level"]).reshape(-1)[0])
    remaps, slices, t_comm = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for gg in np.unique(g_all):  # a few distinct g across thousands of draws
        ex = exchanges(family, circuit, level, int(gg))
        sel = g_all == gg
        remaps[sel], slices[sel] = ex.count, ex.slices
        t_comm[sel] = ex.time(slice_bytes[sel], node_bits[sel], intra[sel], inter[sel])
    hidden = np.minimum(np.asarray(c.get("comm_overlap", 0.0), float) * t_comm, t_compute)
    t_exposed = t_comm - hidden
    p_dev, p_host, pue = (np.asarray(c[x], float) for x in ("device_power", "host_power_per_device", "pue"))
    power = pue * devices * (np.asarray(c["power_utilisation"], float) * p_dev + p_host)
    power_comm = pue * devices * (np.asarray(c["comm_power_utilisation"], float) * p_dev + p_host)
    e_compute, e_comm = power * t_compute, power_comm * t_exposed
    return {"devices": devices, "remaps": remaps, "exchange_slices": slices, "t_compute": t_compute,
            "t_comm": t_comm, "t_comm_exposed": t_exposed, "time": t_compute + t_exposed,
            "power": power, "power_comm": power_comm, "energy_compute": e_compute,
            "energy_comm": e_comm, "energy": e_compute + e_comm}


def simulation_energy(circuit: CircuitSpec, profile: Profile, precision: str = "complex64",
                      batch: int = 1, family: CircuitFamily | None = None) -> SimulationEstimate:
    """Energy of one statevector simulation of ``circuit`` on ``profile`` (module docstring).

    Args:
        circuit: gate counts, gate list and qubits of the circuit.
        profile: a simulator profile.
        precision: ``"complex64"`` or ``"complex128"``.
        batch: inputs simulated together; only amortises the per-pass launch cost.
        family: the circuit's family, to extrapolate qsim's pass counts past its qubit limit.

    Returns:
        The estimate for one input; ``feasible`` is ``False`` past the memory wall.
    """
    _require_simulator(profile)
    if batch < 1:
        raise ValueError(f"batch = {batch}: must be >= 1")
    level = int(profile["fusion_level"])
    work = circuit_work(family, circuit, level, profile["fusion_factor"], blocking(profile, precision, batch))
    constants = {name: profile[name] for name in profile.constants}
    out = {key: float(np.asarray(v).reshape(-1)[0])
           for key, v in simulation_energy_arrays(circuit, work, constants, precision, batch, family).items()}
    devices = int(out["devices"])
    time_s = out["time"]
    return SimulationEstimate(
        n_qubits=circuit.n_qubits,
        state_bytes=bytes_per_amplitude(precision) * 2.0**circuit.n_qubits,
        devices=devices,
        feasible=devices <= profile["max_devices"],
        passes=work.passes,
        sweeps=work.sweeps,
        remaps=out["remaps"],
        exchange_slices=out["exchange_slices"],
        t_pass=out["t_compute"] / work.passes,
        t_compute=out["t_compute"],
        t_comm=out["t_comm"],
        t_comm_exposed=out["t_comm_exposed"],
        time_s=time_s,
        power_w=out["power"],
        power_comm_w=out["power_comm"],
        energy_j=out["energy"],
        energy_compute_j=out["energy_compute"],
        energy_comm_j=out["energy_comm"],
        work=work.method,
        exchange_method=exchanges(family, circuit, level, int(round(math.log2(devices)))).method,
    )
