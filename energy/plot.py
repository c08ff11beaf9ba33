"""Plot energy per inference against qubit count (matplotlib, Agg canvas, no pyplot state).

One line per profile on a log energy axis: simulation platforms solid up to their memory wall
and dotted beyond it (extrapolated to a larger machine of the same kind), QPUs dashed (dotted
beyond the device's qubits).  Each memory wall is a vertical dotted line in its platform's
colour, labelled with the platform (labels at one n stack); each cross-over ``n*`` is a star on
the QPU curve labelled with its value and both profiles (labels on one QPU curve stack, so
neighbours do not overlap).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from energy.crossover import Crossover, Curve
from qsim.atomic import atomic_write

__all__ = ["plot_energy"]

#: Figure size (inches) and resolution of the saved image.
FIGURE_SIZE = (8.0, 5.0)
DPI = 120


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


def plot_energy(curves: Sequence[Curve], crossovers: Sequence[Crossover],
                path: str | os.PathLike[str], title: str = "Energy per inference") -> Path:
    """Draw the curves, memory walls and cross-overs; write a PNG atomically to ``path``."""
    fig = Figure(figsize=FIGURE_SIZE)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = {}
    walls_drawn: dict[int, int] = {}  # stagger labels of memory walls at the same n
    for index, curve in enumerate(curves):
        colour = f"C{index % 10}"
        colours[curve.profile] = colour
        simulator = curve.kind == "simulator"
        for i, (ns, es, style) in enumerate(_segments(curve, "-" if simulator else "--", ":")):
            ax.plot(ns, es, style, color=colour, label=curve.profile if i == 0 else None)
        if curve.memory_wall is not None and curve.n[0] <= curve.memory_wall <= curve.n[-1]:
            ax.axvline(curve.memory_wall, color=colour, linestyle=":", linewidth=1.0, alpha=0.8)
            stack = walls_drawn.get(curve.memory_wall, 0)
            walls_drawn[curve.memory_wall] = stack + 1
            ax.annotate(f"{curve.profile} wall {curve.memory_wall}", (curve.memory_wall, 0.02 + 0.22 * stack),
                        xycoords=("data", "axes fraction"), rotation=90, color=colour,
                        fontsize=7, ha="right")
    labelled: dict[tuple[int, str], int] = {}  # stagger labels of cross-overs on the same point
    for crossover in crossovers:
        if crossover.n_star is None:
            continue
        colour = colours.get(crossover.simulator, "k")
        ax.plot([crossover.n_star], [crossover.e_qpu], marker="*", markersize=12, color=colour,
                markeredgecolor="k", linestyle="none")
        key = (0, crossover.qpu)  # labels on one QPU curve stack under each other
        stack = labelled.get(key, 0)
        labelled[key] = stack + 1
        ax.annotate(f"n*={crossover.n_star} {crossover.simulator} vs {crossover.qpu}",
                    (crossover.n_star, crossover.e_qpu),
                    textcoords="offset points", xytext=(6, -10 - 9 * stack), fontsize=8,
                    color=colour)
    ax.set_yscale("log")
    ax.set_xlabel("qubits n")
    ax.set_ylabel("energy per inference (J)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left",
              title="solid/dashed: feasible; dotted: extrapolated; *: cross-over", title_fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return atomic_write(path, buffer.getvalue())
