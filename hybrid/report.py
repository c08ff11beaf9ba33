"""``qhybrid report``: a study folder (:mod:`hybrid.study`) as a Markdown (and HTML) report with figures.

The report holds every table of :func:`hybrid.study.analyse_study` (the design and its aliases,
the cells, the main effects with their 95 % intervals, the selection on validation loss, the
best head against every baseline, the ablations, shots and noise), the figures beside it
(``<stem>-figures/*.png``: a main-effects plot per factor, accuracy against qubits, against
parameters, against shots and against the noise level), the configuration, the package
versions and the command that reproduces each number.  The HTML page is self-contained (the
figures inline as ``data:`` URIs).  Every file is written atomically.

The energy figure of the chosen head's circuit comes from the ``energy`` package, which
:mod:`hybrid` does not import: the report prints the ``qhybrid energy`` command for that circuit
and shows ``<study>/energy.png`` when that command has written it there.

Statistics (:mod:`hybrid.analysis`): means over split seeds, standard deviations with ``ddof=1``,
t-intervals ``x̄ ± t_{0.975,S-1} s/√S``, paired differences and paired t-tests over seeds.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from qsim.atomic import atomic_write, atomic_write_json

from hybrid.cli import EXIT_OK, EXIT_USAGE
from hybrid.config import one_line

__all__ = ["COMMAND", "package_versions", "write_report"]

logger = logging.getLogger(__name__)

#: Packages whose versions the report lists (those installed).
VERSIONED = ("qhybrid", "torch", "numpy", "scipy", "scikit-learn", "numba", "sentence-transformers", "matplotlib")
#: The energy figure the report shows when present in the study folder.
ENERGY_FIGURE = "energy.png"


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED` (absent ones left out), Python and qsim's default backend."""
    from qsim.backends import NAMES

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["qsim backend"] = NAMES[0]
    return out


# --------------------------------------------------------------------------------------------
# A document of blocks, rendered as Markdown or HTML


@dataclass
class _Block:
    kind: str                      # "h", "p", "table", "figure", "code"
    content: Any
    level: int = 2


class _Doc:
    def __init__(self) -> None:
        self.blocks: list[_Block] = []

    def h(self, text: str, level: int = 2) -> None:
        self.blocks.append(_Block("h", text, level))

    def p(self, text: str) -> None:
        self.blocks.append(_Block("p", text))

    def code(self, text: str) -> None:
        self.blocks.append(_Block("code", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(_Block("table", (header, rows)))

    def figure(self, path: Path, caption: str, shown_as: str) -> None:
        self.blocks.append(_Block("figure", (path, caption, shown_as)))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b.kind == "h":
                out.append("#" * b.level + " " + b.content)
            elif b.kind == "p":
                out.append(b.content)
            elif b.kind == "code":
                out.append("```\n" + b.content + "\n```")
            elif b.kind == "table":
                header, rows = b.content
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
                out.append("\n".join(lines))
            else:
                _, caption, shown = b.content
                out.append(f"![{caption}]({shown})\n\n*{caption}*")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
               "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
               "text-align:right}th{background:#eee}td:first-child{text-align:left}"
               "pre{background:#f4f4f4;padding:8px;overflow-x:auto}img{max-width:100%}</style></head><body>"]
        for b in self.blocks:
            if b.kind == "h":
                out.append(f"<h{b.level}>{html.escape(b.content)}</h{b.level}>")
            elif b.kind == "p":
                out.append(f"<p>{html.escape(b.content)}</p>")
            elif b.kind == "code":
                out.append(f"<pre>{html.escape(b.content)}</pre>")
            elif b.kind == "table":
                header, rows = b.content
                out.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows]
                out.append("</table>")
            else:
                path, caption, _ = b.content
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                out.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                           f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Figures


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def _pm(summary: dict[str, Any]) -> str:
    """``mean ± std`` in percent."""
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f}"


def _ci(interval: dict[str, Any]) -> str:
    if interval.get("half_width") is None:
        return "n/a (1 seed)"
    return f"[{100 * interval['low']:.2f}, {100 * interval['high']:.2f}]"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _save(fig, figs: dict[str, tuple[Path, str]], name: str, folder: Path, caption: str) -> None:
    """Write ``fig`` atomically as ``folder/<name>.png``, record it in ``figs`` and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    figs[name] = (folder / f"{name}.png", caption)
    atomic_write(figs[name][0], buf.getvalue())
    plt.close(fig)


def _accuracy_axes(ax) -> None:
    """The y label, grid and legend every accuracy-against-x figure shares."""
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _figures(a: dict[str, Any], folder: Path) -> dict[str, tuple[Path, str]]:
    """The report's figures as PNG files in ``folder``: name -> (path, caption)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, tuple[Path, str]] = {}
    effects = [e for e in a["main_effects"] if e["levels"]]
    if effects:
        fig, axes = plt.subplots(1, len(effects), figsize=(3.2 * len(effects), 3.2), sharey=True, squeeze=False)
        for ax, e in zip(axes[0], effects):
            x = range(len(e["levels"]))
            means = [100 * lv["mean"] for lv in e["levels"]]
            err = [100 * (lv["deviation"]["half_width"] or 0) for lv in e["levels"]]
            ax.errorbar(x, means, yerr=err, marker="o", capsize=4)
            ax.set_xticks(list(x), [lv["level"] for lv in e["levels"]])
            ax.set_title(e["factor"])
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("test accuracy (%)")
        fig.suptitle("Main effects (bars: 95% CI of the level's difference from the mean, paired over seeds)",
                     fontsize=9, y=1.04)
        _save(fig, figs, "main_effects", folder, "Main effect of each factor on test accuracy")
    points = [pt for pt in a["points"] if pt["kind"] != "baseline" and pt["kind"] != "matched"]
    baselines = [pt for pt in a["points"] if pt["kind"] in ("baseline", "matched")]
    axes_spec = (("qubits", "qubits (widest circuit)", False), ("parameters", "trainable parameters", True))
    for key, xlabel, log in axes_spec:
        pts = points if key == "qubits" else points + baselines
        pts = [pt for pt in pts if pt[key] is not None]
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for kind, marker in (("cell", "o"), ("base", "s"), ("ablation", "^"), ("baseline", "D"), ("matched", "D")):
            sel = [pt for pt in pts if pt["kind"] == kind]
            if not sel:
                continue
            ax.errorbar([pt[key] for pt in sel], [100 * pt["test"]["mean"] for pt in sel],
                        yerr=[100 * (pt["test"]["interval"]["half_width"] or 0) for pt in sel],
                        fmt=marker, capsize=3, label=kind)
            if kind in ("ablation", "baseline", "matched"):
                for pt in sel:
                    ax.annotate(pt["label"], (pt[key], 100 * pt["test"]["mean"]), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        _accuracy_axes(ax)
        _save(fig, figs, f"accuracy_vs_{key}", folder, f"Test accuracy against {xlabel} (mean over seeds, 95% CI)")
    arms = a["robustness"]["arms"]
    shots = sorted((arm for arm in arms if arm["shots"] is not None), key=lambda arm: arm["shots"])
    noise = [arm for arm in arms if arm["shots"] is None]
    for key, sel in (("shots", shots), ("noise", noise)):
        if not sel:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        x = [arm["shots"] for arm in sel] if key == "shots" else list(range(len(sel)))
        ax.errorbar(x, [100 * arm["test"]["mean"] for arm in sel],
                    yerr=[100 * (arm["test"]["interval"]["half_width"] or 0) for arm in sel], marker="o", capsize=4,
                    label=f"QPU module with {key}")
        exact = sel[0]["exact"]
        ax.axhline(100 * exact["mean"], color="k", ls="--", lw=1, label="exact")
        if key == "shots":
            ax.set_xscale("log")
            ax.set_xlabel("shots per evaluation")
        else:
            ax.set_xticks(x, [arm["label"].removeprefix("noise ") for arm in sel], rotation=15, fontsize=7)
            ax.set_xlabel("noise model (in the config's order)")
        _accuracy_axes(ax)
        _save(fig, figs, f"accuracy_vs_{key}", folder,
              f"Test accuracy of the chosen head against {key} (mean over seeds, 95% CI)")
    return figs


# --------------------------------------------------------------------------------------------
# The report


def _energy_command(head: dict[str, Any] | None, study_dir: Path) -> str | None:
    """The ``qhybrid energy`` command for the QPU module of ``head`` (a HeadConfig dict)."""
    if not head or head.get("linear_input") == "encoders_only":
        return None
    q = head["qpu"]
    return (f"qhybrid energy --circuit paper-head --layers {q['block_layers']} --connectivity {q['connectivity']} "
            f"--reuploads {q['reuploads']} --final-layers {q['layers']}"
            + (" --ry-column" if q.get("ry_column_after") is not None else "")
            + f" --plot {study_dir / ENERGY_FIGURE} --json {study_dir / 'energy.json'}")


def _seeds_text(seeds: list[int]) -> str:
    return ",".join(map(str, seeds))


def build_report(study_dir: str | Path, figures_dir: Path, figures_ref: str) -> tuple[_Doc, dict[str, Any]]:
    """The report document of a study folder and the analysis it shows."""
    from hybrid.study import CONFIGS, SPEC_FILE, analyse_study, load_study

    root = Path(study_dir).resolve()  # commands that work from any folder
    a = analyse_study(root)
    study, selection = load_study(root)
    figs = _figures(a, figures_dir)
    seeds = _seeds_text(a["seeds"])
    doc = _Doc()
    doc.h(f"Study {a['name']}", 1)
    if study.spec.description:
        doc.p(study.spec.description)
    doc.p(f"Split seeds {seeds} (seeded paper splits; every model of a seed is trained on the same split). "
          "Accuracies in percent: mean ± standard deviation over seeds (ddof=1); 95% intervals are t-intervals "
          "over seeds; paired differences and paired t-tests pair the seeds. The best configuration is chosen on "
          "mean validation loss only; the test split plays no part in any choice.")
    if a["missing"]:
        doc.p(f"Incomplete: {len(a['missing'])} planned runs have no finished result ("
              + ", ".join(a["missing"][:8]) + (", ..." if len(a["missing"]) > 8 else "")
              + "); the tables use the finished ones.")
    doc.h("Reproduce")
    doc.code(f"qhybrid study {root / SPEC_FILE} --out {root} --jobs N    # every number below (finished runs "
             f"are read back)\nqhybrid report {root} --out {root / 'report.md'} --html")
    # design
    d = a["design"]
    doc.h("Design")
    if study.spec.factors:
        doc.table(["factor", "letter", "levels (low | high)"],
                  [[f["name"], letter, " | ".join(f["levels"])] for f, letter in zip(a["factors"], d["letters"])])
    doc.p(f"{d['kind']} factorial: {len(d['cells'])} cells x {len(a['seeds'])} seeds.")
    if d["kind"] == "fractional":
        doc.p(f"Generators {', '.join(d['generators'])}; defining relation I = {' = '.join(d['defining_relation'])}; "
              f"resolution {d['resolution']}. Aliases of each main effect (the effect estimated is the sum of "
              "these): " + "; ".join(f"{k} = {' = '.join(v)}" for k, v in d["aliases"].items()) + ".")
    # cells
    doc.h("Cells")
    doc.table(["cell", "levels", "params", "qubits", "val loss", "val acc", "test acc", "95% CI", "runs",
               "reproduce"],
              [[c["cell"], c["label"], c.get("parameters", ""), c.get("qubits", ""),
                f"{c['validation_loss']:.4f}" if "validation_loss" in c else "", _pct(c.get("validation_accuracy")),
                _pm(c["test"]) if "test" in c else "", _ci(c["test"]["interval"]) if "test" in c else "", c["runs"],
                f"qhybrid train --config {root / CONFIGS / (c['cell'] + '.json')} --split-seeds {seeds}"]
               for c in a["cells"]])
    # main effects
    if a["main_effects"]:
        doc.h("Main effects on test accuracy")
        rows = []
        for e in a["main_effects"]:
            eff = e["effect"]
            for lv in e["levels"]:
                rows.append([e["factor"], lv["level"], _pct(lv["mean"]), f"{100 * lv['deviation']['mean']:+.2f}",
                             _ci(lv["deviation"]),
                             "" if eff is None or lv is not e["levels"][-1] else f"{100 * eff['mean']:+.2f}",
                             "" if eff is None or lv is not e["levels"][-1] else _ci(eff),
                             len(e["seeds"])])
        doc.table(["factor", "level", "mean acc", "vs mean", "95% CI", "effect (high - low)", "95% CI", "seeds"],
                  rows)
        if "main_effects" in figs:
            path, caption = figs["main_effects"]
            doc.figure(path, caption, f"{figures_ref}/{path.name}")
    # selection
    if "selection" in a:
        sel = a["selection"]
        doc.h("Selection on validation loss")
        doc.table(["rank", "cell", "mean val loss", "mean val acc"],
                  [[i + 1, r["cell"], f"{r['validation_loss']:.4f}", _pct(r["validation_accuracy"])]
                   for i, r in enumerate(sel["ranking"])])
        other = sel["best_by_test_not_used"]
        doc.p(f"Chosen: {sel['best']} (lowest mean validation loss over seeds {_seeds_text(sel['seeds'])}). "
              f"For transparency only, not used: the cell with the highest mean test accuracy is {other['cell']} "
              f"({_pct(other['test_mean'])}).")
    # models
    if a["models"]:
        doc.h("Models on the same splits")
        doc.table(["model", "params", "qubits", "test acc (mean ± std)", "95% CI", "- logreg", "p (paired t)",
                   "reproduce"],
                  [[name, r["parameters"], r["qubits"] if r["qubits"] is not None else "", _pm(r), _ci(r["interval"]),
                    (f"{100 * r['vs_logreg']['mean']:+.2f} ± {100 * r['vs_logreg']['std']:.2f}"
                     if r.get("vs_logreg") else ""), _p((r.get("vs_logreg") or {}).get("p_paired_t")),
                    f"qhybrid train --config {root / CONFIGS / (r['group'] + '.json')} --split-seeds {seeds}"
                    if r["group"] else ""]
                   for name, r in a["models"].items()])
    if a.get("best_vs_baselines"):
        doc.h("The chosen head against every baseline")
        doc.table(["baseline", "params", "baseline acc", "head acc", "head - baseline", "p (paired t)"],
                  [[b, c["baseline"]["parameters"], _pm(c["baseline"]), _pm(c["head"]),
                    f"{100 * c['difference']['mean']:+.2f} ± {100 * c['difference']['std']:.2f}",
                    _p(c["difference"]["p_paired_t"])] for b, c in a["best_vs_baselines"].items()])
    if a["ablations"]:
        doc.h("Ablations")
        doc.table(["ablation", "of", "params", "acc (mean ± std)", "95% CI", "ablated - full", "p (paired t)"],
                  [[name, c["of"], c["head"]["parameters"], _pm(c["head"]),
                    _ci(a["models"].get(f"{name} ({c['group']})", {}).get("interval", {"half_width": None})),
                    f"{100 * c['difference']['mean']:+.2f} ± {100 * c['difference']['std']:.2f}",
                    _p(c["difference"]["p_paired_t"])] for name, c in a["ablations"].items()])
    for key in ("qubits", "parameters"):
        if f"accuracy_vs_{key}" in figs:
            path, caption = figs[f"accuracy_vs_{key}"]
            doc.figure(path, caption, f"{figures_ref}/{path.name}")
    # robustness
    arms = a["robustness"]["arms"]
    if arms:
        doc.h("Shots and noise")
        doc.p(f"The trained {a['robustness']['on']} head of each seed, evaluated with its QPU module run with "
              "shots (estimates of each expectation value from that many samples) or under a noise model "
              "(density matrices; the encoders stay exact). The differences pair each seed with its exact "
              "evaluation. Reproduce one: python -c \"from hybrid.study import evaluate_under; "
              f"print(evaluate_under('{root}/runs/{a['robustness']['on']}/seed-0', shots=1000, seed=0))\"")
        doc.table(["arm", "test acc (mean ± std)", "95% CI", "exact", "arm - exact", "p (paired t)"],
                  [[arm["label"], _pm(arm["test"]), _ci(arm["test"]["interval"]), _pm(arm["exact"]),
                    f"{100 * arm['difference']['mean']:+.2f} ± {100 * arm['difference']['std']:.2f}",
                    _p(arm["difference"]["p_paired_t"])] for arm in arms])
        for key in ("shots", "noise"):
            if f"accuracy_vs_{key}" in figs:
                path, caption = figs[f"accuracy_vs_{key}"]
                doc.figure(path, caption, f"{figures_ref}/{path.name}")
    # energy hook
    best = (a.get("selection") or {}).get("best")
    if best:
        from hybrid.study import run_facts

        folders = [study.groups[best].folder(root, s) for s in a["seeds"]]
        found = next((f for f in folders if (f / "config.json").is_file()), None)
        cmd = _energy_command(run_facts(found)["head"], root) if found else None
        if cmd:
            doc.h("Energy of the chosen head's circuit")
            doc.p("The QPU module of the chosen head as the energy package's paper-head circuit family "
                  "(energy per inference, simulator against QPU, over the qubit count):")
            doc.code(cmd)
            if (root / ENERGY_FIGURE).is_file():
                doc.figure(root / ENERGY_FIGURE, "Energy per inference of the chosen head's circuit",
                           str((root / ENERGY_FIGURE).resolve()))
    # configuration and versions
    doc.h("Configuration")
    doc.code(json.dumps(study.spec.to_dict(), indent=2))
    doc.h("Versions")
    doc.table(["package", "version"], [[k, v] for k, v in package_versions().items()])
    return doc, a


def write_report(study_dir: str | Path, out: str | Path, *, html_too: bool = False) -> list[Path]:
    """Write ``out`` (Markdown), its figures in ``<out stem>-figures/`` and, with ``html_too``, the
    self-contained ``<out>.html``; also ``analysis.json`` beside the report.  Returns the files.

    Raises:
        FileNotFoundError: not a study folder.
        ValueError: an unusable ``out`` location.
    """
    import os

    out = Path(out)
    if out.suffix != ".md":
        raise ValueError(f"--out {out}: the report is a .md file")
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; name the report file (e.g. {out / 'report.md'})")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: cannot write there ({ancestor} is not a writable folder)")
    figures = out.parent / f"{out.stem}-figures"
    doc, analysis = build_report(study_dir, figures, figures.name)
    written = [atomic_write(out, doc.markdown())]
    written.append(atomic_write_json(out.parent / f"{out.stem}-analysis.json", analysis))
    if html_too:
        written.append(atomic_write(out.with_suffix(".html"), doc.html(f"Study {analysis['name']}")))
    written += sorted(figures.glob("*.png"))
    return written


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Write a study folder's report: tables, figures, configuration, versions (hybrid.report)."
    p.add_argument("study", metavar="STUDY_DIR", help="a folder written by qhybrid study")
    p.add_argument("--out", metavar="FILE.md", required=True, help="the Markdown report (figures beside it)")
    p.add_argument("--html", action="store_true", help="also write a self-contained HTML page (FILE.html)")


def _run(args: argparse.Namespace) -> int:
    try:
        files = write_report(args.study, args.out, html_too=args.html)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"qhybrid report: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {files[0]} ({len(files) - 1} more files)")
    return EXIT_OK


@dataclass(frozen=True)
class _ReportCommand:
    help: str = "write the Markdown / HTML report of a study folder"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return _run(args)


#: The ``qhybrid report`` sub-command (entry point ``report = "hybrid.report:COMMAND"``).
COMMAND = _ReportCommand()
