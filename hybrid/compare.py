"""Several split seeds in one go: every model on the same splits, mean ± std, paired differences.

:func:`compare_over_seeds` trains the run's own model and each requested baseline on the paper
split of every seed (the data, and a SetFit body, prepared once per seed and shared by all
models), writes each run folder as ``<out>/seed-<s>/<model>`` and a ``summary.json``:

* per model: test accuracy per seed, mean and standard deviation (``ddof=1``, over seeds),
  parameters;
* per model against logistic regression on the *same* splits: the paired differences
  ``d_s = acc_model(s) - acc_logreg(s)``, their mean and standard deviation and a two-sided
  paired t-test (``scipy.stats.ttest_rel``; ``p`` is ``None`` with fewer than two seeds or
  identical differences).

Finished runs (``"status": "finished"`` in ``metrics.json``) are read back instead of retrained,
and interrupted ones are resumed, so an interrupted comparison continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from hybrid.experiment import HEAD_MODELS, METRICS_FILE, RunConfig, json_safe, prepare_data, train_run
from hybrid.runfolder import STATUS_FINISHED, read_status

__all__ = ["REFERENCE_MODEL", "baseline_finetune", "compare_over_seeds", "parse_seeds", "summarize"]

logger = logging.getLogger(__name__)

#: The model every other is paired against.
REFERENCE_MODEL = "logreg"
SUMMARY_FILE = "summary.json"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"0,2,5"`` -> ``[0, 2, 5]``; ranges and lists mix.

    Raises:
        ValueError: anything else, naming the bad part.
    """
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ValueError(f"bad split seeds {text!r}: {part!r} is not N or N-M")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"bad split seeds {text!r}: range {part.strip()!r} runs backwards")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"bad split seeds {text!r}: a seed appears twice")
    return seeds


def _model_name(cfg: RunConfig) -> str:
    if not cfg.is_quantum:
        return cfg.model
    return "quantum" if cfg.head is not None else f"quantum-{cfg.preset}"


def summarize(results: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """Summary statistics from ``{model: {seed: metrics}}`` (see the module docstring)."""
    from scipy import stats

    out: dict[str, Any] = {"models": {}}
    ref = results.get(REFERENCE_MODEL, {})
    for name, per_seed in results.items():
        seeds = sorted(per_seed)
        acc = np.array([per_seed[s]["test"]["accuracy"] for s in seeds])
        row: dict[str, Any] = {
            "seeds": seeds, "test_accuracy": acc.tolist(), "mean": float(acc.mean()),
            "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "parameters": int(per_seed[seeds[0]]["parameters"]),
        }
        common = [s for s in seeds if s in ref]
        if name != REFERENCE_MODEL and common:
            d = np.array([per_seed[s]["test"]["accuracy"] - ref[s]["test"]["accuracy"] for s in common])
            p = None
            if len(d) > 1 and np.ptp(d) > 0:
                p = float(stats.ttest_rel([per_seed[s]["test"]["accuracy"] for s in common],
                                          [ref[s]["test"]["accuracy"] for s in common]).pvalue)
            row["vs_logreg"] = {"seeds": common, "differences": d.tolist(), "mean": float(d.mean()),
                                "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0, "p_paired_t": p}
        out["models"][name] = row
    return out


def baseline_finetune(ft):
    """The body the baselines get beside ``ft``: the same SetFit body (``setfit``, or ``full``
    started from it: the cached stage is shared), else the frozen one (plain ``full``)."""
    if ft is None or ft.mode == "setfit":
        return ft
    return ft.setfit_stage() if ft.setfit_first else None


def compare_over_seeds(cfg: RunConfig, seeds: list[int], out_dir: str | Path,
                       baselines: tuple[str, ...] = (REFERENCE_MODEL,), *,
                       head_changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``cfg``'s model and ``baselines`` on the paper split of every seed; summarise.

    Args:
        cfg: the run (its ``data.seed`` is replaced by each seed; ``data.split`` must be ``"paper"``).
        seeds: split seeds.
        out_dir: ``<out>/seed-<s>/<model>/`` run folders and ``<out>/summary.json``.
        baselines: other models trained on the same splits (logistic regression is always added).
        head_changes: more dotted head settings, added to ``cfg.head_overrides`` (applied by each run once
            the embedding size is known).

    Returns:
        the summary written to ``summary.json``.
    """
    from qsim.atomic import atomic_write_json

    if cfg.data.split != "paper":
        raise ValueError("--split-seeds compares over seeded paper splits; the standard split has no seed")
    if head_changes:
        cfg = dataclasses.replace(cfg, head_overrides={**(cfg.head_overrides or {}), **head_changes})
    out = Path(out_dir)
    names = [_model_name(cfg)] + [b for b in dict.fromkeys((*baselines, REFERENCE_MODEL)) if b != cfg.model]
    configs = {names[0]: dataclasses.replace(cfg, reference=False)}
    for b in names[1:]:
        configs[b] = dataclasses.replace(cfg, model=b, train=None, reference=False, folds=None, fold_final="refit",
                                         finetune=baseline_finetune(cfg.finetune),
                                         head_overrides=cfg.head_overrides if b in HEAD_MODELS else None)
    if cfg.finetune is not None and cfg.finetune.mode == "full" and not cfg.finetune.setfit_first:
        logger.warning("baselines beside end-to-end fine-tuning use the frozen body (no SetFit stage)")
    results: dict[str, dict[int, dict[str, Any]]] = {n: {} for n in names}
    for seed in seeds:
        datasets: dict[Any, Any] = {}
        for name, run_cfg in configs.items():
            run_cfg = dataclasses.replace(run_cfg, data=dataclasses.replace(run_cfg.data, seed=seed))
            folder = out / f"seed-{seed}" / name
            if read_status(folder) == STATUS_FINISHED:
                results[name][seed] = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
                logger.info("seed %d, %s: finished before, read back", seed, name)
                continue
            key = json.dumps(None if run_cfg.finetune is None else run_cfg.finetune.to_dict(), sort_keys=True)
            if key not in datasets:
                datasets[key] = prepare_data(run_cfg.data, run_cfg.finetune)
            # an interrupted run (status "interrupted", or a leftover .partial) continues where it can
            results[name][seed] = train_run(run_cfg, folder, dataset=datasets[key], resume=True).metrics
            logger.info("seed %d, %s: test accuracy %.4f", seed, name, results[name][seed]["test"]["accuracy"])
    summary = {"seeds": list(seeds), "config": cfg.to_dict(), **summarize(results)}
    atomic_write_json(out / SUMMARY_FILE, json_safe(summary))
    return summary
