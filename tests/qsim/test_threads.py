"""The thread policy: ``qsim.set_num_threads`` and the OpenMP wait policy default.

OpenMP reads ``OMP_WAIT_POLICY`` once, when Numba's thread pool starts (the first parallel kernel
launch).  The default must be in place by then although ``import qsim`` no longer sets it: the
check runs in a fresh interpreter with ``OMP_DISPLAY_ENV=TRUE``, so the OpenMP runtime prints
the wait policy it actually started with.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import pytest

import qsim
from qsim import InputError

_PROBE = """
import os, sys
import qsim
assert "OMP_WAIT_POLICY" not in os.environ, "import qsim set the variable"
assert "numba" not in sys.modules, "import qsim loaded numba"
from qsim.gates import RY
c = qsim.Circuit(2, (qsim.op(RY, 0, 0.3),))
qsim.final_state(c)
import numba
print("LAYER", numba.threading_layer(), flush=True)
"""


def _probe_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["OMP_DISPLAY_ENV"] = "TRUE"
    return env


def test_wait_policy_is_set_before_the_thread_pool_starts():
    out = subprocess.run([sys.executable, "-c", _PROBE], env=_probe_env(), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    if "LAYER omp" not in out.stdout:
        pytest.skip(f"Numba's threading layer is not OpenMP here ({out.stdout.strip()})")
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in out.stderr, out.stderr


def test_set_num_threads():
    saved = qsim.get_num_threads()
    try:
        qsim.set_num_threads(1)
        assert numba.get_num_threads() == 1 == qsim.get_num_threads()
    finally:
        qsim.set_num_threads(saved)
    for bad in (0, -1, 2.5, True, "2", numba.config.NUMBA_NUM_THREADS + 1):
        with pytest.raises(InputError, match="thread count"):
            qsim.set_num_threads(bad)
