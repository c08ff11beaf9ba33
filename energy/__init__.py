"""Energy of one inference: statevector simulation on classical hardware versus a QPU.

Modules, one per concern:

* :mod:`energy.units`: units of profile constants, converted to SI.
* :mod:`energy.profiles`: hardware profiles (``energy/profiles/*.toml``) with a source per constant.
* :mod:`energy.circuits`: circuit descriptions (paper head, hardware-efficient ansatz, qsim
  duck type).
* :mod:`energy.lowering`: passes and memory sweeps from qsim's lowering and cache-blocked plan; exchange
  steps of the plan on distributed devices.
* :mod:`energy.simulation`: simulation energy (memory traffic, devices, communication, power).
* :mod:`energy.qpu`: QPU energy (shots x per-shot time x system power, shot counts, noise).
* :mod:`energy.crossover`: the cross-over ``n*``, the memory wall, sensitivity, constant solving.
* :mod:`energy.uncertainty`: interpolated ``n*``, Monte Carlo interval over the constants' ranges, ranking.
* :mod:`energy.classical`: the best classical alternative (light cone, MPS bond-dimension bound).
* :mod:`energy.mps`: the MPS cost measured with Qiskit Aer (``--measure-mps``, when installed).
* :mod:`energy.costs`: money and CO2 per inference from sourced price and grid-intensity constants.
* :mod:`energy.measure`: copy bandwidth, RAPL and NVML power and energy counters on this machine.
* :mod:`energy.calibrate`: ``eta``, joules per byte and static power fitted from ``qhybrid.bench/1`` files.
* :mod:`energy.presets`: the two published cross-overs (46 and 34 qubits): un-fitted and calibrated.
* :mod:`energy.plot` and :mod:`energy.cli`: the figure and the ``qhybrid energy`` command.

Example::

    from energy import PaperHead, Scenario, find_crossover, load_profile
    scenario = Scenario(load_profile("dgx-h100"), load_profile("ionq-forte"), PaperHead(),
                        shots=1000)
    print(find_crossover(scenario).summary())
"""

from energy.calibrate import CalibrationError, calibrated_profile, fit_efficiency, load_bench
import warnings
from typing import Any

from energy.circuits import (CircuitSpec, EnergyCircuitError, HardwareEfficient, PaperHead,
                             spec_from_circuit)
from energy.crossover import Crossover, Scenario, find_crossover, sensitivity, solve_constant
from energy.presets import PRESETS, get_preset
from energy.profiles import EnergyProfileError, Profile, builtin_profile_names, load_profile
from energy.qpu import qpu_energy, shots_for_precision
from energy.simulation import memory_wall, simulation_energy

__all__ = [
    "CalibrationError",
    "CircuitSpec",
    "Crossover",
    "EnergyCircuitError",
    "EnergyProfileError",
    "HardwareEfficient",
    "PRESETS",
    "PaperHead",
    "Profile",
    "Scenario",
    "builtin_profile_names",
    "calibrated_profile",
    "find_crossover",
    "fit_efficiency",
    "get_preset",
    "load_bench",
    "load_profile",
    "memory_wall",
    "qpu_energy",
    "sensitivity",
    "shots_for_precision",
    "simulation_energy",
    "solve_constant",
    "spec_from_circuit",
]

#: Former names of the energy errors -> their names now (deprecated aliases).
_RENAMED = {"CircuitError": EnergyCircuitError, "ProfileError": EnergyProfileError}


def __getattr__(name: str) -> Any:
    """``energy.CircuitError`` / ``energy.ProfileError``: deprecated aliases of the ``Energy*`` errors."""
    if name in _RENAMED:
        new = _RENAMED[name]
        warnings.warn(f"energy.{name} was renamed {new.__name__} (qsim has its own {name}); the old name will be "
                      "removed", DeprecationWarning, stacklevel=2)
        return new
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
