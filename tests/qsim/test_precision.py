"""The precision table and its aliases."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import InputError
from qsim.precision import BYTES_PER_AMPLITUDE, PRECISIONS, precision_name, resolve_precision


def test_table():
    assert tuple(PRECISIONS) == ("double", "single")
    d, s = PRECISIONS["double"], PRECISIONS["single"]
    assert (d.complex, d.real, d.bytes_per_amplitude) == (np.complex128, np.float64, 16)
    assert (s.complex, s.real, s.bytes_per_amplitude) == (np.complex64, np.float32, 8)
    assert BYTES_PER_AMPLITUDE == {"complex128": 16, "complex64": 8, "float64": 8, "float32": 4}
    for name, nbytes in BYTES_PER_AMPLITUDE.items():
        assert np.dtype(name).itemsize == nbytes


@pytest.mark.parametrize("name,want", [("double", "double"), ("single", "single"), ("complex128", "double"),
                                       ("float64", "double"), ("complex64", "single"), ("float32", "single")])
def test_aliases(name, want):
    assert precision_name(name) == want
    assert resolve_precision(name) is PRECISIONS[want]


@pytest.mark.parametrize("bad", ["half", "float16", None, 64])
def test_unknown_precision_raises(bad):
    with pytest.raises(InputError, match=rf"precision {bad!r} must be one of"):
        resolve_precision(bad)
