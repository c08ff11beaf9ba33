r"""Energy of one inference on a QPU.

A QPU answers an expectation value by repeating the circuit for ``S`` shots.  With the native
gate counts ``g_1, g_2`` (3-wire gates decomposed, :func:`energy.circuits.two_qubit_equivalent`)
and a QPU profile (:mod:`energy.profiles`):

.. math::

    t_{circ} &= \begin{cases} g_1 t_{1q} + g_2 t_{2q} & \text{serial (one trapped-ion chain)}\\
                              d_1 t_{1q} + d_2 t_{2q} & \text{layered (superconducting chips)}
                \end{cases}\\
    t_{shot} &= t_{prep} + t_{circ} + t_{readout} + t_{shot\,overhead}\\
    P_{sys}(n) &= P_0 + p_q\, n + P_{control}\\
    E_{qpu} &= \mathrm{PUE}\; P_{sys}(n)\, (S_{eff}\, t_{shot} + t_{job}) .

``d_1, d_2`` are the circuit's single-qubit-only and multi-qubit layers.  ``P_0 + p_q n`` follows
IonQ 2605.02798's observation that QPU energy grows about linearly in ``n`` for shallow circuits.

**Shots.**  For a ±1-valued observable the standard error of ``<Z>`` after ``S`` shots is
``sqrt((1 - <Z>^2) / S) <= 1 / sqrt(S)``, so a target precision ``eps`` needs
``S = ceil(1 / eps^2)`` (:func:`shots_for_precision`).

**Noise-aware inflation** (optional).  Under a depolarising-like model the signal shrinks by the
circuit fidelity ``F = f_1^{g_1} f_2^{g_2} f_{spam}^n``; keeping the same precision on the
*unattenuated* value needs ``S_eff = ceil(S / F^2)`` shots (anchors §5.3).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from energy.circuits import CircuitSpec, two_qubit_equivalent
from energy.profiles import Kind, Profile, Schedule

__all__ = ["QPUEstimate", "circuit_fidelity", "circuit_time", "qpu_energy", "shots_for_precision"]


@dataclass(frozen=True)
class QPUEstimate:
    """Energy and time of one inference on a QPU (all SI units)."""

    n_qubits: int
    within_capacity: bool
    shots: int
    shots_effective: float
    fidelity: float
    t_circuit: float
    t_shot: float
    time_s: float
    power_w: float
    energy_j: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def shots_for_precision(epsilon: float) -> int:
    """Shots ``S = ceil(1 / eps^2)`` bounding the standard error of a ±1 observable by ``eps``."""
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"target precision = {epsilon}: must be in (0, 1)")
    return math.ceil(1.0 / epsilon**2 - 1e-9)


def _require_qpu(profile: Profile) -> None:
    if profile.kind is not Kind.QPU:
        raise ValueError(
            f"profile {profile.name!r} is a {profile.kind.value} profile, expected a qpu"
        )


def circuit_fidelity(circuit: CircuitSpec, profile: Profile) -> float:
    """``F = f_1^{g_1} f_2^{g_2} f_spam^n`` with native gate counts."""
    _require_qpu(profile)
    g1, g2 = two_qubit_equivalent(circuit.counts)
    return (profile["fidelity_1q"] ** g1 * profile["fidelity_2q"] ** g2
            * profile["fidelity_spam"] ** circuit.n_qubits)


def circuit_time(circuit: CircuitSpec, profile: Profile) -> float:
    """Duration ``t_circ`` of the gates of one shot (serial or layered, see module docstring)."""
    _require_qpu(profile)
    if profile.schedule is Schedule.SERIAL:
        g1, g2 = two_qubit_equivalent(circuit.counts)
        return g1 * profile["t_1q"] + g2 * profile["t_2q"]
    return circuit.depth_single * profile["t_1q"] + circuit.depth_multi * profile["t_2q"]


def qpu_energy(
    circuit: CircuitSpec, profile: Profile, shots: int, noise_aware: bool = False
) -> QPUEstimate:
    """Energy of one inference: ``shots`` repetitions of ``circuit`` on ``profile``.

    Args:
        circuit: the circuit run per shot.
        profile: a QPU profile.
        shots: requested shots ``S`` per inference.
        noise_aware: inflate shots to ``S / F^2`` (module docstring).

    Returns:
        The estimate; ``within_capacity`` is ``False`` when ``n`` exceeds the device's qubits
        (the energy is then an extrapolation to a larger device of the same kind).
    """
    _require_qpu(profile)
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ValueError(f"shots = {shots!r}: must be an integer >= 1")
    fidelity = circuit_fidelity(circuit, profile)
    shots_eff: float = shots
    if noise_aware:
        inflated = shots / fidelity**2 if fidelity > 0.0 else math.inf
        shots_eff = math.ceil(inflated) if math.isfinite(inflated) else math.inf
    t_circ = circuit_time(circuit, profile)
    t_shot = profile["t_prep"] + t_circ + profile["t_readout"] + profile["t_shot_overhead"]
    time_s = shots_eff * t_shot + profile["t_job"]
    power = (profile["system_power"] + profile["power_per_qubit"] * circuit.n_qubits
             + profile["control_power"]) * profile["pue"]
    return QPUEstimate(
        n_qubits=circuit.n_qubits,
        within_capacity=circuit.n_qubits <= profile["max_qubits"],
        shots=shots,
        shots_effective=shots_eff,
        fidelity=fidelity,
        t_circuit=t_circ,
        t_shot=t_shot,
        time_s=time_s,
        power_w=power,
        energy_j=power * time_s,
    )
