"""Lowering a circuit to a program of fused passes (:mod:`.lower`), its cache-blocked execution
plan (:mod:`.plan`) and binding its angles (:mod:`.bind`).

``from qsim.program import lower, Program, SRC_*, KIND_*, ...`` keeps working: this package
re-exports :mod:`.lower` and :mod:`.plan`.  :mod:`.bind` (Numba) is imported by the backends that
run programs, not here, so ``import qsim`` does not load Numba.
"""

from .lower import (
    BACKWARD_FUSION, DEFAULT_FUSION, GPU_FUSION, KIND_CTRL, KIND_CTRL_DIAG, KIND_CTRL_X, KIND_DENSE1,
    KIND_DENSE2, KIND_DENSEK, KIND_DIAG1, KIND_DIAG2, MAX_FUSED_WIDTH, MAX_INSERTED_BITS, MAX_PASS_DIM,
    MAX_PASS_TARGETS, SRC_CONST, SRC_INPUT, SRC_WEIGHT, Program, full_spectral, lower,
)
from .plan import MAX_SWAP_PAIRS, MIN_SWAP_GAIN, STEP_BLOCK, STEP_SWAP, STEP_SWEEP, Plan, plan

__all__ = [
    "Program", "lower", "full_spectral",
    "DEFAULT_FUSION", "GPU_FUSION", "BACKWARD_FUSION", "MAX_FUSED_WIDTH",
    "KIND_DENSE1", "KIND_DIAG1", "KIND_DENSE2", "KIND_DIAG2",
    "KIND_CTRL", "KIND_CTRL_X", "KIND_CTRL_DIAG", "KIND_DENSEK",
    "SRC_CONST", "SRC_WEIGHT", "SRC_INPUT",
    "MAX_PASS_TARGETS", "MAX_PASS_DIM", "MAX_INSERTED_BITS",
    "Plan", "plan", "STEP_BLOCK", "STEP_SWEEP", "STEP_SWAP", "MAX_SWAP_PAIRS", "MIN_SWAP_GAIN",
]
