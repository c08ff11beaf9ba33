"""qsim: a from-scratch batched quantum-circuit simulator (NumPy reference, Numba CPU, CuPy GPU).

Conventions: qubit 0 is the most significant bit of a basis index (``numpy.kron`` order);
angles are in radians; ``R_P(θ) = exp(-iθP/2)``.  qsim never imports torch.

The OpenMP wait policy of Numba's thread pool (``OMP_WAIT_POLICY=PASSIVE`` unless set) is
applied when qsim's Numba kernels are first imported, not here (:mod:`qsim.threads`).
"""

from . import gates
from .ansatz import angle_encoding, hardware_efficient_layer, long_range_layer, long_range_pqc, ry_column
from .circuit import Circuit, CircuitError, Const, Input, Operation, Weight, op
from .errors import InputError, QsimError
from .gates import Gate, GateError, unitary
from .observables import Observable, PauliString, X, Y, Z, pauli, z_each
from .simulate import counts, expval, final_state, probabilities, sample, sample_expval
from .threads import OMP_WAIT_POLICY_DEFAULT, get_num_threads, set_num_threads
from .validate import set_max_bytes

__all__ = [
    "QsimError", "InputError",
    "gates", "Gate", "GateError", "unitary",
    "Circuit", "CircuitError", "Operation", "Weight", "Input", "Const", "op",
    "angle_encoding", "long_range_layer", "long_range_pqc", "ry_column", "hardware_efficient_layer",
    "Observable", "PauliString", "X", "Y", "Z", "pauli", "z_each",
    "final_state", "expval", "probabilities", "sample", "counts", "sample_expval", "set_max_bytes",
    "set_num_threads", "get_num_threads", "OMP_WAIT_POLICY_DEFAULT",
]
__version__ = "0.1.0"
