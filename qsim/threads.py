"""The CPU thread policy of qsim's Numba kernels: the OpenMP wait policy and the thread count.

Numba starts its thread pool (its "threading layer", OpenMP here) at the first parallel kernel
launch, and OpenMP reads ``OMP_WAIT_POLICY`` once, when it starts.  :func:`default_wait_policy`
therefore runs when a module defining qsim's Numba kernels is imported (before any of them can
launch) and in :func:`set_num_threads` (which starts the pool itself) - not at ``import qsim``,
which stays free of process-wide side effects until a simulation needs Numba.
"""

from __future__ import annotations

import numbers
import os

from .errors import InputError

__all__ = ["OMP_WAIT_POLICY_DEFAULT", "default_wait_policy", "set_num_threads", "get_num_threads"]

#: OpenMP wait policy set for Numba's thread pool unless the user chose one.  Spinning threads
#: stall every parallel region when another process holds a core (W1 n=12: 40 ms spinning vs
#: 0.9 ms passive on a shared 2-core machine; ``bench`` reports); passive costs nothing measurable
#: on an idle machine because qsim enters few parallel regions per call.
OMP_WAIT_POLICY_DEFAULT = "PASSIVE"


def default_wait_policy() -> None:
    """Set ``$OMP_WAIT_POLICY`` to :data:`OMP_WAIT_POLICY_DEFAULT` unless the user set it.

    Takes effect only before Numba's thread pool starts (its first parallel launch), and only if
    no other library (torch, for one) has already started an OpenMP runtime in this process.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY_DEFAULT)


def set_num_threads(n: int) -> None:
    """Run qsim's Numba kernels on ``n`` threads (``1 <= n <= NUMBA_NUM_THREADS``).

    Raises:
        InputError: when ``n`` is not an integer in that range.
    """
    default_wait_policy()
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= limit:
        raise InputError(f"thread count {n!r} must be an integer from 1 to {limit} (NUMBA_NUM_THREADS)")
    numba.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads qsim's Numba kernels run on."""
    default_wait_policy()
    import numba

    return numba.get_num_threads()
