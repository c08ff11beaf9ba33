"""Bit helpers shared by qsim's Numba kernel families (state vectors, batch-major, density matrices).

**Convention.**  A basis index ``i`` of an ``n``-qubit register holds qubit ``q`` in bit
``n - 1 - q``: qubit 0 is the most significant bit (``numpy.kron`` order).  The helpers below
only see *bit positions* ``p`` (``p = 0`` is the least significant bit); callers translate wires
to positions with ``p = n - 1 - q``.

**Group iteration.**  A pass on the target (and control) bits ``b_1 … b_t`` visits
``G = 2**n / 2**t`` groups of ``2**t`` amplitudes.  Group ``k < G`` starts at the index obtained
by inserting a zero bit at every sorted position ``p_1 < … < p_t`` into ``k``
(:func:`insert_bits`), and its members are that start plus the target offsets
(:func:`group_offsets`).

All helpers are ``@njit(inline="always")``: they are inlined into the kernels that call them
and cost nothing at run time.  Numba keys a kernel's on-disk cache (``cache=True``) on the
kernel's own source file, so a change here does not invalidate kernels already cached in
other modules: clear their ``__pycache__`` after editing this file.
"""

from __future__ import annotations

from numba import njit

__all__ = ["insert_bit", "insert_bits", "group_offsets", "parity"]


@njit(inline="always")
def insert_bit(k, p):
    """``k`` with a zero bit inserted at position ``p``: the bits of ``k`` at positions ``≥ p``
    move up by one.

    ``insert_bit(k, p) = 2**(p+1) · ⌊k / 2**p⌋ + (k mod 2**p)``.
    """
    return ((k >> p) << (p + 1)) | (k & ((1 << p) - 1))


@njit(inline="always")
def insert_bits(k, ins, nins):
    """``k`` with zero bits inserted at the positions ``ins[0] < … < ins[nins-1]`` (sorted
    ascending; entries past ``nins`` are ignored): the first index of group ``k``.

    Inserting in ascending order makes each position refer to the final index, so the result
    has zeros exactly at ``ins[:nins]`` and the bits of ``k``, in order, everywhere else.
    """
    for j in range(nins):
        k = insert_bit(k, ins[j])
    return k


@njit(inline="always")
def group_offsets(bits, width, out):
    """``out[i] = Σ_j i_j · 2**bits[j]`` for ``i < 2**width``, ``i_j`` bit ``width-1-j`` of ``i``.

    The offsets of a group's ``2**width`` members from its first index: the first target
    ``bits[0]`` is the most significant bit of the local index ``i`` (``kron`` order of the pass
    matrix), as qubit 0 is of a basis index.
    """
    for i in range(1 << width):
        o = 0
        for j in range(width):
            if (i >> (width - 1 - j)) & 1:
                o |= 1 << bits[j]
        out[i] = o


@njit(inline="always")
def parity(x):
    """``|x| mod 2``, the parity of the number of set bits of a 64-bit ``x`` (an XOR fold in six
    shifts), so that ``(-1)^{|i ∧ s|} = 1 - 2 · parity(i & s)``."""
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    x ^= x >> 4
    x ^= x >> 2
    x ^= x >> 1
    return x & 1
