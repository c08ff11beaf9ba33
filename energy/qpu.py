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
circuit fidelity ``F = f_1^{g_1} f_2^{g_2} f_{spam}^m``; keeping the same precision on the
*unattenuated* value needs ``S_eff = ceil(S / F^2)`` shots (anchors §5.3).  ``m`` is the number
of measured qubits (:data:`MEASURED_QUBITS`: the head reads one ``<Z>``), not ``n``: readout
error on qubits that are not read does not attenuate the signal.

The formulas are written with NumPy (:func:`qpu_energy_arrays`) so that :mod:`energy.uncertainty`
evaluates sampled profiles at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from energy.circuits import CircuitSpec, two_qubit_equivalent
from energy.profiles import Kind, Profile, Schedule

__all__ = ["MEASURED_QUBITS", "QPUEstimate", "circuit_fidelity", "circuit_time", "qpu_energy",
           "qpu_energy_arrays", "shots_for_precision"]

#: Qubits read out per shot: the head's output is one expectation value ``<Z_0>``.
MEASURED_QUBITS = 1


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
    """``F = f_1^{g_1} f_2^{g_2} f_spam^m`` with native gate counts, ``m`` measured qubits."""
    _require_qpu(profile)
    g1, g2 = two_qubit_equivalent(circuit.counts)
    m = min(MEASURED_QUBITS, circuit.n_qubits)
    return profile["fidelity_1q"] ** g1 * profile["fidelity_2q"] ** g2 * profile["fidelity_spam"] ** m


def qpu_energy_arrays(circuit: CircuitSpec, schedule: Schedule, c: Mapping[str, Any], shots: Any,
                      noise_aware: bool) -> dict[str, np.ndarray]:
    """The module formulas with constants ``c[name]`` (and ``shots``) as scalars or arrays (SI).

    Returns arrays ``fidelity``, ``shots_effective``, ``t_circuit``, ``t_shot``, ``time``,
    ``power``, ``energy``.
    """
    g1, g2 = two_qubit_equivalent(circuit.counts)
    m = min(MEASURED_QUBITS, circuit.n_qubits)
    a = {name: np.asarray(c[name], float) for name in c}
    with np.errstate(divide="ignore", over="ignore"):
        log_f = g1 * np.log(a["fidelity_1q"]) + g2 * np.log(a["fidelity_2q"]) + m * np.log(a["fidelity_spam"])
        fidelity = np.exp(log_f)
        shots = np.asarray(shots, float)
        shots_eff = np.ceil(shots * np.exp(-2.0 * log_f) - 1e-9) if noise_aware else shots * np.ones_like(log_f)
    if schedule is Schedule.SERIAL:
        t_circ = g1 * a["t_1q"] + g2 * a["t_2q"]
    else:
        t_circ = circuit.depth_single * a["t_1q"] + circuit.depth_multi * a["t_2q"]
    t_shot = a["t_prep"] + t_circ + a["t_readout"] + a["t_shot_overhead"]
    time_s = shots_eff * t_shot + a["t_job"]
    power = (a["system_power"] + a["power_per_qubit"] * circuit.n_qubits + a["control_power"]) * a["pue"]
    return {"fidelity": fidelity, "shots_effective": shots_eff, "t_circuit": t_circ, "t_shot": t_shot,
            "time": time_s, "power": power, "energy": power * time_s}


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
    constants = {name: profile[name] for name in profile.constants}
    out = {key: float(np.asarray(v).reshape(-1)[0])
           for key, v in qpu_energy_arrays(circuit, profile.schedule, constants, shots, noise_aware).items()}
    return QPUEstimate(
        n_qubits=circuit.n_qubits,
        within_capacity=circuit.n_qubits <= profile["max_qubits"],
        shots=shots,
        shots_effective=out["shots_effective"],
        fidelity=out["fidelity"],
        t_circuit=out["t_circuit"],
        t_shot=out["t_shot"],
        time_s=out["time"],
        power_w=out["power"],
        energy_j=out["energy"],
    )
