r"""What one inference costs in money and in CO2, from its energy, a price and a grid intensity.

With the energy ``E`` (J) of one inference, the electricity price ``p`` (USD/kWh) and the grid's
carbon intensity ``c`` (g CO2 per kWh):

.. math::  \mathrm{kWh} = E / 3.6\times10^6, \qquad \mathrm{cost} = p\,\mathrm{kWh}, \qquad
           \mathrm{CO_2} = c\,\mathrm{kWh} .

Both constants are sourced (:data:`ELECTRICITY_PRICE`, :data:`GRID_INTENSITY`), each with the
range its source allows; the CLI can replace either (``--electricity-price``,
``--grid-intensity``: a value of your site, range = the value).  Price and intensity are
facility-level figures: the energies they multiply already include each profile's PUE.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["ELECTRICITY_PRICE", "GRID_INTENSITY", "InferenceCost", "JOULES_PER_KWH", "SourcedConstant",
           "inference_cost"]

#: Joules in one kilowatt-hour.
JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class SourcedConstant:
    """A constant with its range and where it comes from (tags as in :mod:`energy.profiles`)."""

    name: str
    value: float
    low: float
    high: float
    unit: str
    tag: str
    source: str

    def __post_init__(self) -> None:
        if not all(math.isfinite(x) and x > 0 for x in (self.value, self.low, self.high)):
            raise ValueError(f"{self.name} = {self.value:g} [{self.low:g}, {self.high:g}] {self.unit}: "
                             "value and range must be finite and > 0")
        if not self.low <= self.value <= self.high:
            raise ValueError(f"{self.name} = {self.value:g} {self.unit}: outside its range "
                             f"[{self.low:g}, {self.high:g}]")

    def override(self, value: float, source: str) -> SourcedConstant:
        """The constant set to ``value`` (range = the value); ``ValueError`` names a non-physical one."""
        return replace(self, value=value, low=value, high=value, tag="A", source=source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


#: Electricity price.  Value: Tennessee (where ORNL's Frontier sits) commercial sector, 11.80 c/kWh in
#: 2023.  Range: the lowest and highest 2023 state averages of the industrial and commercial sectors
#: in the contiguous US (Hawaii, 35-39 c/kWh, left out).
ELECTRICITY_PRICE = SourcedConstant(
    "electricity_price", 0.1180, 0.0575, 0.2391, "USD/kWh", "P",
    "EIA Electric Power Annual 2023, 'Average revenue per kilowatthour' by state and sector "
    "(https://www.eia.gov/electricity/annual/secrev-map.php): Tennessee commercial 11.80 c/kWh; range: "
    "New Mexico industrial 5.75 c/kWh to California commercial 23.91 c/kWh")

#: Carbon intensity of electricity generation.  Value: world average 2023.  Range: Norway (hydro) to
#: India (coal-heavy) in the same data set.  Life-cycle CO2-equivalents; EIA's direct-combustion US
#: figure for 2023, 0.81 lb/kWh = 367 g/kWh, lies inside.
GRID_INTENSITY = SourcedConstant(
    "grid_intensity", 481.0, 30.0, 713.0, "gCO2/kWh", "S",
    "Ember, Global Electricity Review 2024, emission intensity 2023 (charted by Statista, "
    "https://statista.com/statistics/943137/global-emissions-intensity-power-sector-by-country): world 481 "
    "gCO2/kWh; range: Norway 30 to India 713 gCO2/kWh (same chart); US 2023: 0.81 lb/kWh = 367 g/kWh "
    "(EIA FAQ 74, https://www.eia.gov/tools/faqs/faq.php?id=74)")


@dataclass(frozen=True)
class InferenceCost:
    """Money and CO2 of one inference of ``energy_j`` joules (each with its range)."""

    energy_j: float
    kwh: float
    cost_usd: float
    cost_usd_range: tuple[float, float]
    co2_g: float
    co2_g_range: tuple[float, float]

    def text(self) -> str:
        """``9.34e+05 J = 0.259 kWh: 0.0306 USD [0.0149, 0.062], 125 g CO2 [7.78, 185]``."""
        lo, hi = self.cost_usd_range
        clo, chi = self.co2_g_range
        return (f"{self.energy_j:.3g} J = {self.kwh:.3g} kWh: {self.cost_usd:.3g} USD [{lo:.3g}, {hi:.3g}], "
                f"{self.co2_g:.3g} g CO2 [{clo:.3g}, {chi:.3g}]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["cost_usd_range"], out["co2_g_range"] = list(self.cost_usd_range), list(self.co2_g_range)
        return out


def inference_cost(energy_j: float, price: SourcedConstant = ELECTRICITY_PRICE,
                   intensity: SourcedConstant = GRID_INTENSITY) -> InferenceCost:
    """Cost (USD) and CO2 (g) of ``energy_j`` joules; the ranges are the constants' ranges."""
    if not math.isfinite(energy_j) or energy_j < 0:
        raise ValueError(f"energy = {energy_j!r} J: must be a finite number >= 0")
    kwh = energy_j / JOULES_PER_KWH
    return InferenceCost(energy_j, kwh, kwh * price.value, (kwh * price.low, kwh * price.high),
                         kwh * intensity.value, (kwh * intensity.low, kwh * intensity.high))
