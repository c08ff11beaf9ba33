"""Fixtures for the qsim tests: (backend, precision) combinations (cupy only with a GPU)."""

from __future__ import annotations

import pytest
from qsim_testutils import gpu_available

_gpu = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA GPU")]

#: The numpy reference runs in double precision only.
COMBOS = [
    pytest.param(("numba", "double"), id="numba-double"),
    pytest.param(("numba", "single"), id="numba-single"),
    pytest.param(("numpy", "double"), id="numpy-double"),
    pytest.param(("cupy", "double"), id="cupy-double", marks=_gpu),
    pytest.param(("cupy", "single"), id="cupy-single", marks=_gpu),
]


@pytest.fixture(params=COMBOS)
def engine(request):
    """``(backend, precision)``."""
    return request.param


@pytest.fixture(params=["numba", "numpy", pytest.param("cupy", marks=_gpu)])
def backend(request):
    return request.param
