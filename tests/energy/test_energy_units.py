"""Unit conversion of profile constants."""

import pytest

from energy.units import Dimension, UnitError, to_si


@pytest.mark.parametrize(
    ("value", "unit", "dimension", "expected"),
    [
        (80, "GB", Dimension.BYTES, 80e9),
        (1, "GiB", Dimension.BYTES, 2.0**30),
        (3.35, "TB/s", Dimension.BANDWIDTH, 3.35e12),
        (2, "GiB/s", Dimension.BANDWIDTH, 2 * 2.0**30),
        (4.4, "kW", Dimension.POWER, 4400.0),
        (21, "MW", Dimension.POWER, 21e6),
        (970, "us", Dimension.TIME, 970e-6),
        (970, "µs", Dimension.TIME, 970e-6),
        (25, "ns", Dimension.TIME, 25e-9),
        (0.7, "1", Dimension.NUMBER, 0.7),
    ],
)
def test_to_si_converts_to_base_units(value, unit, dimension, expected):
    assert to_si(value, unit, dimension) == pytest.approx(expected, rel=1e-12)


def test_unit_of_another_dimension_is_named():
    with pytest.raises(UnitError, match="'W' is a power unit, expected a bytes unit"):
        to_si(80, "W", Dimension.BYTES)


def test_unknown_unit_is_rejected():
    with pytest.raises(UnitError, match="unknown unit 'furlongs'"):
        to_si(1, "furlongs", Dimension.TIME)
