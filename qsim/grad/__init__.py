"""Gradients: :func:`vjp`, the front door (adjoint, straight-through or parameter shift; exact, shots
or noise), its engines and Jacobians.

:func:`shift_vjp` is the parameter-shift loop for any evaluator; :func:`scatter` passes an
angle's gradient on to the weights and inputs it reads (both shared with ``qsim.noise``).
"""

from ..results import VJP, check_cotangents, scatter
from .adjoint import adjoint_vjp
from .jacobian import jacobian
from .methods import METHODS, vjp
from .param_shift import param_shift_vjp, shift_vjp, shifted_circuits

__all__ = ["VJP", "vjp", "METHODS", "adjoint_vjp", "param_shift_vjp", "shift_vjp", "shifted_circuits", "jacobian",
           "scatter",
           "check_cotangents"]
