"""The plot: bands from the Monte Carlo, memory walls that do not hide each other, labels in a legend,
the QPU named.  Checked on matplotlib's artists, not on pixels."""

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from energy.circuits import PaperHead
from energy.crossover import Scenario, find_crossover, qpu_curve, simulation_curve
from energy.plot import WALL_OFFSET, build_figure, plot_energy
from energy.profiles import load_profile
from energy.uncertainty import energy_bands, energy_grid, n_star_interval, sample_profile

NS = range(20, 45)


@pytest.fixture(scope="module")
def parts():
    circuit = PaperHead()
    # h100 and a copy under another name share the memory wall at n = 34: both walls must stay visible
    h100 = load_profile("h100")
    twin = h100.renamed("h100-twin")
    qpus = [load_profile("ionq-forte"), load_profile("superconducting")]
    curves = ([simulation_curve(p, circuit, NS) for p in (h100, twin)]
              + [qpu_curve(q, circuit, NS, 1000) for q in qpus])
    scenarios = [Scenario(s, q, circuit, 1000) for s in (h100, twin) for q in qpus]
    crossovers = [find_crossover(sc, NS.start, NS.stop - 1) for sc in scenarios]
    intervals = {(sc.simulator.name, sc.qpu.name): n_star_interval(sc, NS.start, NS.stop - 1, 50, 1)
                 for sc in scenarios}
    bands = {}
    for sc in scenarios:
        drawn = energy_bands(sc, NS, 50, 1)
        bands.setdefault(sc.simulator.name, drawn["simulator"])
        bands.setdefault(sc.qpu.name, drawn["qpu"])
    return curves, crossovers, intervals, bands


def test_bands_are_the_central_quantiles_of_the_draws(parts):
    curves, _, _, bands = parts
    sc = Scenario(load_profile("h100"), load_profile("ionq-forte"), PaperHead(), 1000)
    rng = np.random.default_rng(1)
    sim, qpu = sample_profile(sc.simulator, 50, rng), sample_profile(sc.qpu, 50, rng)
    e_sim, e_qpu = energy_grid(sc, NS, sim, qpu)
    for name, grid in (("h100", e_sim), ("ionq-forte", e_qpu)):
        low, high = bands[name]
        assert np.allclose(low, np.quantile(grid, 0.05, axis=1)) and np.allclose(high, np.quantile(grid, 0.95, axis=1))
        assert np.all(high > low)                        # every n has a spread: the constants have ranges
    # the simulation's nominal curve lies inside its band (its constants sit inside their ranges)
    h100 = next(c for c in curves if c.profile == "h100")
    low, high = bands["h100"]
    assert np.all((low <= np.array(h100.energy_j) * (1 + 1e-9)) & (np.array(h100.energy_j) <= high * (1 + 1e-9)))


def test_figure_has_a_band_per_curve_walls_apart_and_every_label_in_the_legend(parts):
    curves, crossovers, intervals, bands = parts
    fig = build_figure(curves, crossovers, "test title", bands, intervals)
    ax = fig.axes[0]
    band_ids = sorted(c.get_gid() for c in ax.collections if isinstance(c, PolyCollection))
    assert band_ids == sorted(f"band:{c.profile}" for c in curves)
    walls = {line.get_gid(): line.get_xdata()[0] for line in ax.lines if (line.get_gid() or "").startswith("wall:")}
    assert set(walls) == {"wall:h100", "wall:h100-twin"}
    assert abs(walls["wall:h100"] - walls["wall:h100-twin"]) == pytest.approx(WALL_OFFSET)
    assert min(walls.values()) < 34 < max(walls.values())          # centred on the shared wall
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "simulation h100" in legend and "QPU ionq-forte" in legend and "QPU superconducting" in legend
    assert "h100 memory wall: n = 34" in legend and "h100-twin memory wall: n = 34" in legend
    stars = [t for t in legend if t.startswith("n* = ")]
    assert len(stars) == sum(c.n_star is not None for c in crossovers)
    iv = intervals[("h100", "ionq-forte")]
    assert f"n* = {iv.nominal:.1f} [{iv.low:.1f}, {iv.high:.1f}]: h100 vs ionq-forte" in legend
    assert not ax.texts                                               # nothing written on the axes themselves
    assert "QPU: ionq-forte, superconducting" in ax.get_title()
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1   # legend outside the axes


def test_cross_over_markers_differ_by_qpu(parts):
    curves, crossovers, intervals, bands = parts
    ax = build_figure(curves, crossovers, "t", bands, intervals).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    markers = {label.split(": ")[1]: handle[0].get_marker() for handle, label in zip(handles, labels)
               if label.startswith("n* = ")}
    assert markers["h100 vs ionq-forte"] == markers["h100-twin vs ionq-forte"]
    assert markers["h100 vs ionq-forte"] != markers["h100 vs superconducting"]


def test_plot_writes_a_png_without_bands_too(parts, tmp_path):
    curves, crossovers, _, _ = parts
    path = plot_energy(curves, crossovers, tmp_path / "energy.png", "plain")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = build_figure(curves, crossovers, "plain").axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
