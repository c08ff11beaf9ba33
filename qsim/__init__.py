"""qsim: a from-scratch batched quantum-circuit simulator (NumPy reference, Numba CPU, CuPy GPU).

Conventions: qubit 0 is the most significant bit of a basis index (``numpy.kron`` order);
angles are in radians; ``R_P(θ) = exp(-iθP/2)``.  qsim never imports torch.
"""

import os as _os

#: OpenMP wait policy set for Numba's thread pool unless the user chose one.  Spinning threads
#: stall every parallel region when another process holds a core (W1 n=12: 40 ms spinning vs
#: 0.9 ms passive on a shared 2-core machine; ``bench`` reports); passive costs nothing measurable
#: on an idle machine because qsim enters few parallel regions per call.
OMP_WAIT_POLICY_DEFAULT = "PASSIVE"
_os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY_DEFAULT)

from . import gates  # noqa: E402
from .ansatz import angle_encoding, hardware_efficient_layer, long_range_layer, long_range_pqc, ry_column  # noqa: E402
from .circuit import Circuit, CircuitError, Const, Input, Operation, Weight, op  # noqa: E402
from .errors import InputError, QsimError  # noqa: E402
from .gates import Gate, GateError, unitary  # noqa: E402
from .observables import Observable, PauliString, X, Y, Z, pauli, z_each  # noqa: E402
from .simulate import counts, expval, final_state, probabilities, sample, sample_expval  # noqa: E402
from .validate import set_max_bytes  # noqa: E402

__all__ = [
    "QsimError", "InputError",
    "gates", "Gate", "GateError", "unitary",
    "Circuit", "CircuitError", "Operation", "Weight", "Input", "Const", "op",
    "angle_encoding", "long_range_layer", "long_range_pqc", "ry_column", "hardware_efficient_layer",
    "Observable", "PauliString", "X", "Y", "Z", "pauli", "z_each",
    "final_state", "expval", "probabilities", "sample", "counts", "sample_expval", "set_max_bytes",
]
__version__ = "0.1.0"
