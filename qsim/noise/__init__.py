"""qsim.noise: channels, noise models, density matrices, trajectories, shots and gradients through noise.

Layout (one module per concern):

* :mod:`~qsim.noise.channels`: Kraus data (depolarizing, flips, Pauli, amplitude / phase /
  generalized amplitude damping, thermal relaxation, user Kraus sets) and readout errors;
* :mod:`~qsim.noise.models`: :class:`NoiseModel` rules, kept apart from the circuit
  (``model.apply(circuit)`` → :class:`NoisyCircuit`), and device profiles
  (``qsim/noise/profiles/*.toml``: ``ideal``, ``ionq-aria-like``, ``ionq-forte-like``);
* :mod:`~qsim.noise.density`: the density-matrix engine (``vec(ρ)`` on the state kernels'
  iteration scheme, fused superoperator passes, real fast path, NumPy reference) and helpers
  (purity, partial trace, fidelity, ...);
* :mod:`~qsim.noise.trajectories`: Monte-Carlo wave-function estimates with standard errors;
* :mod:`~qsim.noise.shots`: readout maps, sampling, shot estimators, differentiable sampling;
* :mod:`~qsim.noise.gradients`: adjoint (Heisenberg) VJP on density matrices, parameter shift;
* :mod:`~qsim.noise.api`: :func:`expval_noisy` and :func:`vjp_noisy`, the entry points of the
  hybrid head.

qsim.noise never imports torch.
"""

from .api import counts_noisy, expval_noisy, sample_noisy, vjp_noisy
from .channels import (
    Channel, ChannelError, ReadoutError, amplitude_damping, bit_flip, bit_phase_flip, compose, depolarizing,
    depolarizing_from_fidelity, generalized_amplitude_damping, identity_channel, kraus_channel, pauli_channel,
    pauli_string_channel, phase_damping, phase_flip, readout_error, thermal_relaxation, unitary_channel,
)
from .density import (
    density_matrix, evolve, expval_density, expval_rho, fidelity, partial_trace, probabilities_density,
    probabilities_rho, pure_density, purity, trace_distance,
)
from .gradients import adjoint_vjp_density, param_shift_vjp_noisy
from .models import (
    ChannelOp, NoiseModel, NoiseRule, NoisyCircuit, ProfileError, UnmatchedNoiseWarning, available_profiles,
    load_profile,
)
from .shots import apply_readout_to_probabilities, readout_observables, sample_bitstrings
from .trajectories import TrajectoryResult, run_trajectories

__all__ = [
    # entry points
    "expval_noisy", "vjp_noisy", "sample_noisy", "counts_noisy",
    # channels
    "Channel", "ChannelError", "ReadoutError", "depolarizing", "depolarizing_from_fidelity", "bit_flip",
    "phase_flip", "bit_phase_flip", "pauli_channel", "pauli_string_channel", "amplitude_damping",
    "generalized_amplitude_damping", "phase_damping", "thermal_relaxation", "kraus_channel",
    "unitary_channel", "identity_channel", "compose", "readout_error",
    # models and profiles
    "NoiseModel", "NoiseRule", "NoisyCircuit", "ChannelOp", "ProfileError", "UnmatchedNoiseWarning",
    "load_profile", "available_profiles",
    # density matrices
    "evolve", "density_matrix", "expval_density", "probabilities_density", "expval_rho",
    "probabilities_rho", "pure_density", "purity", "partial_trace", "fidelity", "trace_distance",
    # trajectories, shots, gradients
    "run_trajectories", "TrajectoryResult", "readout_observables", "apply_readout_to_probabilities",
    "sample_bitstrings", "adjoint_vjp_density", "param_shift_vjp_noisy",
]
