"""The statistics of a study (:mod:`hybrid.study`): main effects with intervals, selection on
validation loss, the best head against every baseline.

Everything here works on plain numbers (no run folders, no torch), so it can be checked on
synthetic results with known effects.  The unit of replication is the *split seed*: every cell
of a design, every baseline and every arm is trained on the same seeded paper splits, so
comparisons are paired within a seed and intervals are taken over seeds.

**t-interval.**  For values ``v_1..v_S`` (one per seed) the 95 % interval of their mean is

.. math::  \\bar v \\pm t_{0.975,\\,S-1}\\, s / \\sqrt{S},\\qquad s^2 = \\frac{1}{S-1} \\sum_s (v_s - \\bar v)^2

(:func:`t_interval`; no interval with fewer than two seeds).

**Main effects.**  For a factor with levels ``ℓ`` let ``m_{ℓ,s}`` be the mean test accuracy of the
cells at level ``ℓ`` in seed ``s`` (averaging over the other factors, which a full or a
regular fractional factorial balances), and ``g_s`` the mean of ``m_{ℓ,s}`` over the levels.

* Two levels (low, high): the effect is ``E = mean(high) - mean(low)``, estimated per seed as
  ``e_s = m_{high,s} - m_{low,s}`` and reported as ``ē`` with the t-interval of the ``e_s``.
* Every level (also for more than two): the deviation ``d_{ℓ,s} = m_{ℓ,s} - g_s`` with its
  t-interval, and the level mean ``\\bar m_ℓ`` (what a main-effects plot shows).

Seeds act as blocks: the split-to-split spread, common to all cells of a seed, cancels in
``e_s`` and ``d_{ℓ,s}``; what is left in the interval is the seed-by-factor variation.  In a
resolution-III fraction a main effect is aliased with two-factor interactions (the design's
alias list says which): the interval covers the aliased sum, not the pure main effect.

**Selection.**  :func:`select_by_validation_loss` ranks cells by their mean validation loss over
seeds and never looks at test accuracy; the test accuracy of the chosen cell is then an honest
estimate (the test split played no part in choosing it).  Validation accuracy on 77 sentences
moves 1.3 points per sentence, the loss much less (issue 15's note).

**Comparisons.**  :func:`paired_comparison` reuses :func:`hybrid.compare.summarize` (mean, standard
deviation ``ddof=1``, paired differences ``d_s = acc_head(s) - acc_baseline(s)`` and the two-sided
paired t-test ``scipy.stats.ttest_rel``) with the baseline in the reference role.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE",
    "Interval",
    "Observation",
    "main_effects",
    "paired_comparison",
    "select_by_validation_loss",
    "seed_summary",
    "t_interval",
]

logger = logging.getLogger(__name__)

#: Confidence level of every interval of a study.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its t-interval: ``mean ± half`` (``half`` is ``None`` with fewer than 2 values)."""

    mean: float
    half: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "half_width": self.half, "low": self.low, "high": self.high, "n": self.n}


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """``v̄ ± t_{(1+c)/2, S-1} s/√S`` over ``values`` (see the module docstring).

    Raises:
        ValueError: no values, or a non-finite one.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("an interval needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"an interval needs finite values, got {v.tolist()}")
    if v.size < 2:
        return Interval(float(v.mean()), None, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return Interval(float(v.mean()), half, int(v.size))


@dataclass(frozen=True)
class Observation:
    """One finished run of a design cell: the cell's level index per factor, the seed and a value."""

    levels: tuple[int, ...]
    seed: int
    value: float


def main_effects(observations: Sequence[Observation], factors: Sequence[tuple[str, Sequence[str]]],
                 confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Main effect of every factor over split seeds (formulas in the module docstring).

    Args:
        observations: finished runs (a cell's level indices follow ``factors``' order).
        factors: ``(name, level labels)`` per factor.

    Returns:
        per factor: ``{"factor", "levels": [{"level", "mean", "deviation": Interval dict}],
        "effect": Interval dict or None (two levels only), "seeds": used seeds, "complete"}``;
        a seed is used for a factor when it has at least one run at every level (``complete``:
        every seed had every cell).
    """
    by_seed: dict[int, list[Observation]] = {}
    for ob in observations:
        by_seed.setdefault(ob.seed, []).append(ob)
    cells_per_seed = {s: {ob.levels for ob in obs} for s, obs in by_seed.items()}
    all_cells = set().union(*cells_per_seed.values()) if cells_per_seed else set()
    out = []
    for i, (name, labels) in enumerate(factors):
        means: dict[int, list[float]] = {}
        for seed in sorted(by_seed):
            per_level = [[ob.value for ob in by_seed[seed] if ob.levels[i] == k] for k in range(len(labels))]
            if all(per_level):
                means[seed] = [float(np.mean(v)) for v in per_level]
        seeds = sorted(means)
        row: dict[str, Any] = {"factor": name, "seeds": seeds, "levels": [], "effect": None,
                               "complete": bool(seeds) and all(cells_per_seed[s] == all_cells for s in by_seed)}
        if not seeds:
            logger.warning("factor %s: no seed has a finished run at every level", name)
            out.append(row)
            continue
        m = np.array([means[s] for s in seeds])            # (S, L)
        g = m.mean(axis=1, keepdims=True)
        for k, label in enumerate(labels):
            row["levels"].append({"level": label, "mean": float(m[:, k].mean()),
                                  "deviation": t_interval(m[:, k] - g[:, 0], confidence).to_dict()})
        if len(labels) == 2:
            row["effect"] = t_interval(m[:, 1] - m[:, 0], confidence).to_dict()
        out.append(row)
    return out


def seed_summary(per_seed: Mapping[int, float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``{"seeds", "values", "mean", "std" (ddof=1), "interval"}`` of one model's values over seeds."""
    seeds = sorted(per_seed)
    v = np.array([per_seed[s] for s in seeds], dtype=np.float64)
    return {"seeds": seeds, "values": v.tolist(), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "interval": t_interval(v, confidence).to_dict()}


def select_by_validation_loss(cells: Mapping[str, Mapping[int, Mapping[str, Any]]],
                              seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """The cell with the lowest mean validation loss over seeds (test accuracy is never read).

    Args:
        cells: ``{cell: {seed: metrics}}`` with ``metrics["validation"]["loss"]``.
        seeds: the seeds a cell must have to be ranked (default: every seed seen); cells missing
            one are left out (a mean over fewer splits is not comparable), unless no cell has all.

    Returns:
        ``{"best", "ranking": [{"cell", "validation_loss", "validation_accuracy", "seeds"}], "seeds"}``,
        ranking by mean loss (ties: higher mean validation accuracy, then the name).

    Raises:
        ValueError: no cell has a validation loss.
    """
    usable = {c: {s: m for s, m in r.items() if (m.get("validation") or {}).get("loss") is not None}
              for c, r in cells.items()}
    usable = {c: r for c, r in usable.items() if r}
    if not usable:
        raise ValueError("no cell has a validation loss to select on")
    wanted = set(seeds) if seeds is not None else set().union(*(set(r) for r in usable.values()))
    complete = {c: r for c, r in usable.items() if wanted <= set(r)}
    if not complete:
        logger.warning("no cell has every seed %s: selecting on the seeds each cell has", sorted(wanted))
        complete = usable
    ranking = []
    for c, r in complete.items():
        ss = sorted(s for s in r if s in wanted) or sorted(r)
        ranking.append({"cell": c, "seeds": ss,
                        "validation_loss": float(np.mean([r[s]["validation"]["loss"] for s in ss])),
                        "validation_accuracy": float(np.mean([r[s]["validation"]["accuracy"] for s in ss]))})
    ranking.sort(key=lambda e: (e["validation_loss"], -e["validation_accuracy"], e["cell"]))
    return {"best": ranking[0]["cell"], "ranking": ranking, "seeds": sorted(wanted)}


def paired_comparison(head: Mapping[int, Mapping[str, Any]], baseline: Mapping[int, Mapping[str, Any]],
                      head_name: str = "head") -> dict[str, Any]:
    """The head against one baseline on the same splits, by :func:`hybrid.compare.summarize`.

    Args:
        head, baseline: ``{seed: metrics}`` (``metrics["test"]["accuracy"]``, ``metrics["parameters"]``).

    Returns:
        ``{"head": summary row, "baseline": summary row, "difference": {"seeds", "differences",
        "mean", "std", "p_paired_t"}}`` with ``d_s = acc_head(s) - acc_baseline(s)``.
    """
    from hybrid.compare import REFERENCE_MODEL, summarize

    name = head_name if head_name != REFERENCE_MODEL else f"{head_name} (head)"
    rows = summarize({REFERENCE_MODEL: dict(baseline), name: dict(head)})["models"]
    return {"head": rows[name], "baseline": rows[REFERENCE_MODEL], "difference": rows[name].get("vs_logreg")}
