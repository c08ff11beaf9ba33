"""The Numba backend's thread policy: small work per parallel region runs on one thread (issue 12)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from qsim.backends import batch_major as BM
from qsim.backends import numba_backend as NB
from qsim.program import lower


def _circuit(n: int, layers: int = 2):
    from qsim import Circuit
    from qsim.ansatz import angle_encoding, hardware_efficient_layer

    ops = tuple(angle_encoding(n))
    for layer in range(layers):
        ops += tuple(hardware_efficient_layer(n, first_weight=2 * n * layer))
    return Circuit(n, ops)


def test_threads_for_restores_the_thread_count():
    saved = numba.get_num_threads()
    with NB._threads_for(0):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == saved
    with NB._threads_for(NB.SERIAL_WORK, NB.REGION_MIN_WORK):
        assert numba.get_num_threads() == saved
    with NB._threads_for(NB.SERIAL_WORK, NB.REGION_MIN_WORK - 1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == saved


def test_region_work_only_for_the_batch_major_driver():
    n = 6
    program = lower(_circuit(n))
    assert NB._region_work(program, NB.BATCH_MAJOR_MIN_BATCH) == NB.BATCH_MAJOR_MIN_BATCH * 2**n
    assert NB._region_work(program, NB.BATCH_MAJOR_MIN_BATCH - 1) is None     # sample-major: one region per call


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
def test_small_batch_major_forward_runs_on_one_thread(monkeypatch):
    """W2's shape (total work at SERIAL_WORK, B * 2**n = 65536 per pass) no longer wakes the pool per pass."""
    n, B = 8, 256
    c = _circuit(n, layers=4)
    program = lower(c)
    assert NB._work(program, B) >= NB.SERIAL_WORK                  # parallel before issue 12
    assert NB._region_work(program, B) < NB.REGION_MIN_WORK
    seen = []
    run = BM.run_batch_major

    def spy(*args):
        seen.append(numba.get_num_threads())
        return run(*args)

    rng = np.random.default_rng(0)
    w = rng.uniform(0, 6, c.n_weights)
    x = rng.uniform(0, 3, (B, c.n_inputs))
    saved = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        monkeypatch.setattr(BM, "run_batch_major", spy)
        two = NB.forward(program, w, x, None, B, np.complex128)
        numba.set_num_threads(1)
        one = NB.forward(program, w, x, None, B, np.complex128)
    finally:
        numba.set_num_threads(saved)
    assert seen == [1, 1]
    np.testing.assert_array_equal(one, two)
