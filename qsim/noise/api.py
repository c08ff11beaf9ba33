"""Deprecated module (one release): the noisy entry points moved to qsim's front door.

``qsim.expval`` / ``qsim.sample`` / ``qsim.counts`` / ``qsim.grad.vjp`` take ``noise=``; the
former names below warn and call them (:mod:`qsim.noise.deprecated`).
"""

import warnings

from .deprecated import counts_noisy, expval_noisy, sample_noisy, vjp_noisy
from .measured import METHODS
from ..grad.methods import METHODS as VJP_METHODS

__all__ = ["expval_noisy", "vjp_noisy", "sample_noisy", "counts_noisy", "METHODS", "VJP_METHODS"]

warnings.warn("qsim.noise.api is deprecated: use qsim.expval / qsim.grad.vjp with noise=", DeprecationWarning,
              stacklevel=2)
