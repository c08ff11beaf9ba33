"""Plot energy per inference against qubit count (matplotlib, Agg canvas, no pyplot state).

One line per profile on a log energy axis, with the central 90 % band of the Monte Carlo draws
over its constants' ranges shaded around it (:func:`energy.uncertainty.energy_bands`):

* simulation platforms solid up to their memory wall and dotted beyond it (extrapolated to a
  larger machine of the same kind); QPUs dashed (dotted beyond the device's qubits);
* each memory wall a vertical line in its platform's colour.  Walls at the same ``n`` are drawn
  side by side (offset by :data:`WALL_OFFSET` qubit each), so none hides another;
* each cross-over a marker on the QPU curve (the simulator's colour, one shape per QPU), with its
  Monte Carlo ``n*`` interval as a horizontal error bar.

Nothing is written on the axes: every curve, band, wall and cross-over is named in the legend,
which sits outside the axes on the right, so labels never collide with each other or with the
curves.  The title names the QPU(s).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from energy.crossover import Crossover, Curve
from energy.uncertainty import INTERVAL, NStarInterval
from qsim.atomic import atomic_write

__all__ = ["BAND_ALPHA", "WALL_OFFSET", "build_figure", "plot_energy"]

#: Figure size (inches) and resolution of the saved image.
FIGURE_SIZE = (11.0, 5.5)
DPI = 120
#: Opacity of the Monte Carlo bands.
BAND_ALPHA = 0.15
#: Horizontal step (qubits) between memory walls that fall on the same ``n``.
WALL_OFFSET = 0.15
#: Cross-over markers, one per QPU (the colour is the simulator's): pairs stay apart in the legend.
QPU_MARKERS = ("*", "P", "X", "D", "^", "s")

#: ``{profile: (low, high)}``: the band of each curve, arrays aligned with the curve's ``n``.
Bands = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def _segments(curve: Curve, style_ok: str,
              style_beyond: str) -> list[tuple[list[int], list[float], str]]:
    """Split a curve into runs of valid / extrapolated points, each sharing its boundary point."""
    runs: list[tuple[list[int], list[float], str]] = []
    for i, (n, e, ok) in enumerate(zip(curve.n, curve.energy_j, curve.valid)):
        style = style_ok if ok else style_beyond
        if not runs or runs[-1][2] != style:
            start = [curve.n[i - 1]] if i else []
            start_e = [curve.energy_j[i - 1]] if i else []
            runs.append((start, start_e, style))
        runs[-1][0].append(n)
        runs[-1][1].append(e)
    return runs


def _interval_text(interval: NStarInterval | None, n_star: int) -> str:
    if interval is None or math.isnan(interval.nominal):
        return f"n* = {n_star}"
    low = "?" if math.isnan(interval.low) else f"{interval.low:.1f}"
    high = f">{interval.n_range[1]}" if math.isnan(interval.high) else f"{interval.high:.1f}"
    return f"n* = {interval.nominal:.1f} [{low}, {high}]"


def build_figure(curves: Sequence[Curve], crossovers: Sequence[Crossover], title: str = "Energy per inference",
                 bands: Bands | None = None,
                 intervals: Mapping[tuple[str, str], NStarInterval] | None = None) -> Figure:
    """The figure (module docstring); ``bands`` and ``intervals`` are optional (no band, no error bar)."""
    fig = Figure(figsize=FIGURE_SIZE)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bands, intervals = bands or {}, intervals or {}
    colours: dict[str, str] = {}
    for index, curve in enumerate(curves):
        colour = f"C{index % 10}"
        colours[curve.profile] = colour
        simulator = curve.kind == "simulator"
        prefix = "simulation" if simulator else "QPU"
        for i, (ns, es, style) in enumerate(_segments(curve, "-" if simulator else "--", ":")):
            ax.plot(ns, es, style, color=colour, label=f"{prefix} {curve.profile}" if i == 0 else None)
        if curve.profile in bands:
            low, high = bands[curve.profile]
            band = ax.fill_between(curve.n, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0)
            band.set_gid(f"band:{curve.profile}")  # one band per curve, named for readers of the figure
    walls = [c for c in curves if c.memory_wall is not None and c.n[0] <= c.memory_wall <= c.n[-1]]
    seen: dict[int, int] = {}
    for curve in walls:
        wall = int(curve.memory_wall)  # type: ignore[arg-type]
        same = [c for c in walls if c.memory_wall == wall]
        rank = seen.get(wall, 0)
        seen[wall] = rank + 1
        x = wall + (rank - (len(same) - 1) / 2.0) * WALL_OFFSET
        line = ax.axvline(x, color=colours[curve.profile], linestyle=(0, (1, 1)), linewidth=1.6, alpha=0.9,
                          label=f"{curve.profile} memory wall: n = {wall}")
        line.set_gid(f"wall:{curve.profile}")
    qpu_order = [c.profile for c in curves if c.kind == "qpu"]
    for crossover in crossovers:
        if crossover.n_star is None:
            continue
        colour = colours.get(crossover.simulator, "k")
        index = qpu_order.index(crossover.qpu) if crossover.qpu in qpu_order else 0
        marker = QPU_MARKERS[index % len(QPU_MARKERS)]
        interval = intervals.get((crossover.simulator, crossover.qpu))
        xerr = None
        if interval is not None and not (math.isnan(interval.low) or math.isnan(interval.high)):
            xerr = [[max(0.0, crossover.n_star - interval.low)], [max(0.0, interval.high - crossover.n_star)]]
        ax.errorbar([crossover.n_star], [crossover.e_qpu], xerr=xerr, marker=marker, markersize=11 if marker == "*"
                    else 8, color=colour,
                    markeredgecolor="k", linestyle="none", capsize=3, elinewidth=1.0,
                    label=f"{_interval_text(interval, crossover.n_star)}: {crossover.simulator} vs {crossover.qpu}")
    ax.set_yscale("log")
    ax.set_xlabel("qubits n")
    ax.set_ylabel("energy per inference (J)")
    ax.set_title(f"{title}\nQPU: {', '.join(qpu_order) or 'none'}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              title=f"solid/dashed: feasible; dotted: extrapolated\nshaded: {INTERVAL:.0%} of the Monte Carlo draws\n"
                    "markers: n* (one shape per QPU), bar: its interval", title_fontsize=7)
    fig.tight_layout()
    return fig


def plot_energy(curves: Sequence[Curve], crossovers: Sequence[Crossover],
                path: str | os.PathLike[str], title: str = "Energy per inference", bands: Bands | None = None,
                intervals: Mapping[tuple[str, str], NStarInterval] | None = None) -> Path:
    """Draw the figure (:func:`build_figure`) and write it as a PNG atomically to ``path``."""
    fig = build_figure(curves, crossovers, title, bands, intervals)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return atomic_write(path, buffer.getvalue())
