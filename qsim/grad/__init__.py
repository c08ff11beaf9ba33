"""Gradients: adjoint VJP (exact, one backward sweep), parameter-shift (shots, noise), Jacobians."""

from .adjoint import VJP, vjp
from .jacobian import jacobian
from .param_shift import param_shift_vjp, shifted_circuits

__all__ = ["VJP", "vjp", "param_shift_vjp", "shifted_circuits", "jacobian"]
