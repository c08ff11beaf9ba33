"""qsim.noise: channels, noise models, density matrices, trajectories, shots and gradients through noise.

Layout (one module per concern):

* :mod:`~qsim.noise.channels`: Kraus data (depolarizing, flips, Pauli, amplitude / phase /
  generalized amplitude damping, thermal relaxation, user Kraus sets) and readout confusions
  (:class:`ReadoutConfusion`; ``ReadoutError`` is its deprecated former name);
* :mod:`~qsim.noise.models`: :class:`NoiseModel` rules, kept apart from the circuit
  (``model.apply(circuit)`` → :class:`NoisyCircuit`), and :func:`load_profile`;
* :mod:`~qsim.noise.profiles`: the device-profile TOML reader (``qsim/noise/profiles/*.toml``:
  ``ideal``, ``ionq-aria-like``, ``ionq-forte-like``);
* :mod:`~qsim.noise.density`: the density-matrix engine (a package: plan, bind, run, states,
  evolve, observables on ``vec(ρ)``; fused superoperator passes, real fast path, NumPy reference);
* :mod:`~qsim.noise.qinfo`: purity, partial trace, fidelity, trace distance;
* :mod:`~qsim.noise.trajectories`: Monte-Carlo wave-function estimates with standard errors;
* :mod:`~qsim.noise.measured`: measured expectations (readout included, exact or with shots),
  samples and counts; sampling, readout maps and shot estimators themselves live in
  :mod:`qsim.measure` (``qsim.noise.shots`` is a deprecated alias of it);
* :mod:`~qsim.noise.gradients`: adjoint (Heisenberg) VJP on density matrices.

These are engines: the entry points are qsim's own front door, ``qsim.expval``, ``qsim.sample``,
``qsim.counts`` and ``qsim.grad.vjp`` with ``noise=<NoiseModel>`` (``expval_noisy``,
``vjp_noisy``, ``sample_noisy``, ``counts_noisy`` and ``param_shift_vjp_noisy`` are deprecated
aliases, :mod:`~qsim.noise.deprecated`).

The noisy-simulation benchmark that lived in ``qsim.noise.bench_noise`` is ``python -m bench.noise``.

qsim.noise never imports torch.
"""

import warnings

from ..measure import apply_readout_to_probabilities, readout_observables, sample_bitstrings
from .channels import (
    Channel, ChannelError, ReadoutConfusion, amplitude_damping, bit_flip, bit_phase_flip, compose, depolarizing,
    depolarizing_from_fidelity, generalized_amplitude_damping, identity_channel, kraus_channel, pauli_channel,
    pauli_string_channel, phase_damping, phase_flip, readout_error, thermal_relaxation, unitary_channel,
)
from .density import (
    density_matrix, evolve, expval_density, expval_rho, probabilities_density, probabilities_rho, pure_density,
)
from .gradients import adjoint_vjp_density
from .models import (
    ChannelOp, NoiseModel, NoiseRule, NoisyCircuit, ProfileError, UnmatchedNoiseWarning, available_profiles,
    load_profile,
)
from .profiles import PROFILE_DIR
from .qinfo import fidelity, partial_trace, purity, trace_distance
from .trajectories import TrajectoryResult, run_trajectories

__all__ = [
    # channels
    "Channel", "ChannelError", "ReadoutConfusion", "depolarizing", "depolarizing_from_fidelity", "bit_flip",
    "phase_flip", "bit_phase_flip", "pauli_channel", "pauli_string_channel", "amplitude_damping",
    "generalized_amplitude_damping", "phase_damping", "thermal_relaxation", "kraus_channel",
    "unitary_channel", "identity_channel", "compose", "readout_error",
    # models and profiles
    "NoiseModel", "NoiseRule", "NoisyCircuit", "ChannelOp", "ProfileError", "UnmatchedNoiseWarning",
    "load_profile", "available_profiles", "PROFILE_DIR",
    # density matrices
    "evolve", "density_matrix", "expval_density", "probabilities_density", "expval_rho",
    "probabilities_rho", "pure_density", "purity", "partial_trace", "fidelity", "trace_distance",
    # trajectories, shots, gradients
    "run_trajectories", "TrajectoryResult", "readout_observables", "apply_readout_to_probabilities",
    "sample_bitstrings", "adjoint_vjp_density",
]


def __getattr__(name: str):
    """Deprecated aliases: ``ReadoutError`` (now :class:`ReadoutConfusion`) and the former noisy
    entry points (:mod:`qsim.noise.deprecated`)."""
    if name in ("expval_noisy", "vjp_noisy", "sample_noisy", "counts_noisy", "param_shift_vjp_noisy"):
        from . import deprecated

        return getattr(deprecated, name)
    if name == "ReadoutError":
        warnings.warn("qsim.noise.ReadoutError was renamed ReadoutConfusion (it is not an exception); "
                      "the old name will be removed", DeprecationWarning, stacklevel=2)
        return ReadoutConfusion
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
