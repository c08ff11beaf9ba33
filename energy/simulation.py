r"""Energy of one inference when the circuit is statevector-simulated on a classical platform.

Gate application on a dense statevector is memory-bandwidth bound (arithmetic intensity below
0.4 FLOP/byte, anchors §1.3): each pass over the state reads and writes every amplitude once.
For a circuit of ``G`` gates on ``n`` qubits at ``b`` bytes per amplitude (8 for complex64, 16
for complex128) on a platform profile (:mod:`energy.profiles`):

.. math::

    S &= b\,2^n  &&\text{state bytes}\\
    N &= 2^{\lceil \log_2 (S / (u_{mem} M_{dev})) \rceil}\ (\ge 1)
        &&\text{devices: a power of two, as distributed simulators need}\\
    P &= \lceil G / f \rceil + 1
        &&\text{passes after fusing } f \text{ gates, plus one to measure}\\
    t_{pass} &= \max\!\left(\frac{t_{launch}}{B},\ \frac{2 S}{N\,\eta\,BW_{dev}}\right)
        &&\text{roofline; launch cost shared by a batch of } B\\
    t_{comm} &= \frac{S}{N}\left(\frac{P_{intra}}{BW_{intra}} + \frac{P_{inter}}{BW_{inter}}\right)
        &&\text{slice exchange for gates on global qubits}\\
    T &= P\,t_{pass} + t_{comm}\\
    E_{sim} &= N\,(u\,P_{dev} + P_{host})\,\mathrm{PUE}\;T .

With ``k = log2 N`` global (device-index) qubits, of which
``k_intra = min(k, log2 devices_per_node)`` live inside a node and ``k_inter = k - k_intra`` across
nodes, a gate on ``a`` wires touches a
global qubit of a class with probability ``min(1, a k_x / n)`` (wires used uniformly); the
passes needing an exchange are ``P_x = sum_a g_a min(1, a k_x / n) / f``.  Each such pass makes
every device swap its slice ``S/N`` over the link (an upper bound: simulators that remap qubits
to batch exchanges do better).

Exact expectation values need no shots: one simulation per input.  The platform is *feasible*
when ``N <= max_devices``; beyond that (the memory wall) the same formulas are still evaluated,
as an extrapolation to a larger machine of the same kind, and flagged ``feasible = False``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from energy.circuits import CircuitSpec
from energy.profiles import Kind, Profile
from qsim.precision import PRECISIONS

__all__ = [
    "BYTES_PER_AMPLITUDE",
    "MEASUREMENT_PASSES",
    "SimulationEstimate",
    "bytes_per_amplitude",
    "devices_needed",
    "memory_wall",
    "simulation_energy",
]

#: Bytes per complex amplitude by precision, named by its complex dtype (qsim's precision table,
#: :data:`qsim.precision.PRECISIONS`; anchors §1.2: qsim choose_hw.md, Aer issue #1646).
BYTES_PER_AMPLITUDE = {p.complex.__name__: p.bytes_per_amplitude for p in PRECISIONS.values()}

#: Extra state passes to read out ``<Z>`` (one pass over the probabilities).
MEASUREMENT_PASSES = 1


@dataclass(frozen=True)
class SimulationEstimate:
    """Energy and time of simulating one inference (all SI units)."""

    n_qubits: int
    state_bytes: float
    devices: int
    feasible: bool
    passes: int
    exchange_passes: float
    t_pass: float
    t_compute: float
    t_comm: float
    time_s: float
    power_w: float
    energy_j: float

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


def simulation_energy(circuit: CircuitSpec, profile: Profile, precision: str = "complex64",
                      batch: int = 1) -> SimulationEstimate:
    """Energy of one statevector simulation of ``circuit`` on ``profile`` (module docstring).

    Args:
        circuit: gate counts and qubits of the circuit.
        profile: a simulator profile.
        precision: ``"complex64"`` or ``"complex128"``.
        batch: inputs simulated together; only amortises the per-pass launch cost.

    Returns:
        The estimate for one input; ``feasible`` is ``False`` past the memory wall.
    """
    _require_simulator(profile)
    if batch < 1:
        raise ValueError(f"batch = {batch}: must be >= 1")
    n = circuit.n_qubits
    state = bytes_per_amplitude(precision) * 2.0**n
    devices = devices_needed(state, profile)
    fusion = profile["fusion_factor"]
    passes = math.ceil(circuit.n_gates / fusion) + MEASUREMENT_PASSES

    t_memory = 2.0 * state / (devices * profile["efficiency"] * profile["bandwidth_per_device"])
    t_pass = max(profile["kernel_launch"] / batch, t_memory)

    k_global = int(math.log2(devices))
    k_intra = min(k_global, int(math.floor(math.log2(profile["devices_per_node"]))))
    k_inter = k_global - k_intra

    def exchange_passes(k: int) -> float:
        return sum(g * min(1.0, a * k / n) for a, g in circuit.counts.items()) / fusion

    p_intra, p_inter = exchange_passes(k_intra), exchange_passes(k_inter)
    t_comm = state / devices * (p_intra / profile["intra_node_bandwidth"]
                                + p_inter / profile["inter_node_bandwidth"])
    t_compute = passes * t_pass
    time_s = t_compute + t_comm
    power = devices * (profile["power_utilisation"] * profile["device_power"]
                       + profile["host_power_per_device"]) * profile["pue"]
    return SimulationEstimate(
        n_qubits=n,
        state_bytes=state,
        devices=devices,
        feasible=devices <= profile["max_devices"],
        passes=passes,
        exchange_passes=p_intra + p_inter,
        t_pass=t_pass,
        t_compute=t_compute,
        t_comm=t_comm,
        time_s=time_s,
        power_w=power,
        energy_j=power * time_s,
    )
