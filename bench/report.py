"""Markdown table and plots of a benchmark document (``qhybrid.bench/1``).

Rows are grouped by workload, then by ``(n_qubits, batch, threads, dtype)``; each simulator has
a column with its median time.  *Ours* in a row is the fastest qhybrid simulator (W3's forward
companion excluded), *best peer* the fastest peer of the same dtype, and the speed-up is
``best peer / ours``.  Only rows that passed the agreement check carry a time; the others are
listed under the table with their reasons.  Plots are drawn with matplotlib's Agg canvas
(no pyplot, no global backend change) and written atomically.
"""

from __future__ import annotations

import io
import logging
import math
from collections import OrderedDict, defaultdict
from pathlib import Path

from qsim.atomic import atomic_write

from .schema import dump
from .workloads import WORKLOAD_ORDER, WORKLOADS

__all__ = ["markdown", "table_rows", "write_plots", "write_outputs", "format_time", "JSON_NAME", "MARKDOWN_NAME",
           "PLOT_NAMES"]

log = logging.getLogger(__name__)

JSON_NAME = "bench.json"
MARKDOWN_NAME = "bench.md"
PLOT_NAMES = ("time_vs_qubits.png", "speedup.png", "roofline.png")
#: The table warns when the 1-minute load average exceeded the core count by more than this.
BUSY_LOAD_MARGIN = 1.0
#: Plot resolution.
PLOT_DPI = 110
_FORWARD_SUFFIX = "-forward"
#: Workloads whose implementations differ in dtype by design (compared in one row, dtype per cell).
MIXED_DTYPE_WORKLOADS = frozenset({"HEAD"})


def is_ours(simulator: str) -> bool:
    return simulator.startswith("qhybrid")


def format_time(seconds: float | None) -> str:
    """``1.23 ms`` style, three significant digits."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def _median(rec: dict) -> float | None:
    return rec["time_s"]["median"] if rec["status"] == "ok" else None


def table_rows(records: list[dict], workload: str) -> tuple[list[str], list[dict]]:
    """Simulator columns and one row per ``(n, batch, threads, dtype)`` for ``workload``.

    Each row: ``key``, ``cells`` (simulator → record), ``ours`` / ``peer`` (fastest ok records or
    None), ``speedup`` (peer/ours), ``ratio`` (W3: gradient / forward).
    """
    recs = [r for r in records if r["workload"] == workload]
    sims: list[str] = []
    for r in sorted(recs, key=lambda r: (not is_ours(r["simulator"]), r["simulator"].endswith(_FORWARD_SUFFIX))):
        if r["simulator"] not in sims:
            sims.append(r["simulator"])
    groups: "OrderedDict[tuple, dict]" = OrderedDict()
    dtype_order = {"complex128": 0, "float64": 1, "complex64": 2, "float32": 3}
    for r in sorted(recs, key=lambda r: (r["n_qubits"], r["batch"], -r["threads"], dtype_order.get(r["dtype"], 9))):
        key = (r["n_qubits"], r["batch"], r["threads"], "mixed" if workload in MIXED_DTYPE_WORKLOADS else r["dtype"])
        groups.setdefault(key, {})[r["simulator"]] = r
    rows = []
    for key, cells in groups.items():
        ok = {s: r for s, r in cells.items() if r["status"] == "ok"}
        ours = [r for s, r in ok.items() if is_ours(s) and not s.endswith(_FORWARD_SUFFIX)]
        peers = [r for s, r in ok.items() if not is_ours(s)]
        best_ours = min(ours, key=_median, default=None)
        best_peer = min(peers, key=_median, default=None)
        speedup = _median(best_peer) / _median(best_ours) if best_ours and best_peer and _median(best_ours) else None
        fwd = [r for s, r in ok.items() if s.endswith(_FORWARD_SUFFIX)]
        ratio = None
        if best_ours and fwd and _median(fwd[0]):
            grad = ok.get(fwd[0]["simulator"][: -len(_FORWARD_SUFFIX)], best_ours)
            ratio = _median(grad) / _median(fwd[0])
        rows.append({"key": key, "cells": cells, "ours": best_ours, "peer": best_peer, "speedup": speedup,
                     "ratio": ratio})
    return sims, rows


def _cell(rec: dict | None, with_dtype: bool = False) -> str:
    if rec is None:
        return ""
    if rec["status"] == "ok":
        return format_time(rec["time_s"]["median"]) + (f" ({rec['dtype']})" if with_dtype else "")
    return "failed" if rec["status"] == "failed" else "skip"


def _short_reason(reason: str) -> str:
    if reason.startswith("predicted"):
        return "over the time budget"
    if reason.startswith("needs about"):
        return "over the memory limit"
    if reason.startswith("disagrees"):
        return reason
    return reason


def _gb(x: float | None) -> str:
    return "—" if x is None else f"{x / 1e9:.3g}"


def markdown(doc: dict, command: str | None = None) -> str:
    """The Markdown report: machine, one table per workload, then failed and skipped rows."""
    m = doc["machine"]
    loads = [r["load_avg"] for r in doc["records"] if r["load_avg"] is not None]
    pk = ", ".join(f"{k} {v}" for k, v in sorted(m["packages"].items()))
    out = [f"# qhybrid bench ({doc['created']})", ""]
    if command:
        out += [f"Command: `{command}`", ""]
    out += [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_bytes'] / 2**30:.1f} GiB, "
        f"GPU: {m['gpu'] or 'none'}; NumPy copy bandwidth {m['copy_bandwidth_bytes_per_s'] / 1e9:.3g} GB/s"
        + (f"; 1-min load average during the run {min(loads):.2f}-{max(loads):.2f}." if loads else "."),
        "",
        f"Packages: {pk}.",
        "",
    ]
    if loads and max(loads) > m["cores"] + BUSY_LOAD_MARGIN:
        out += [f"**Warning: the load average reached {max(loads):.1f} on {m['cores']} cores: other processes "
                "competed for the CPU during this run and the times are not reliable** (multi-threaded OpenMP "
                "code, ours included, can slow down by orders of magnitude on an oversubscribed machine).", ""]
    out += [
        "Median time per run. Every time shown agreed with the reference (qhybrid's NumPy oracle on small "
        "registers, else qhybrid-numba complex128) within 1e-8 (double) or 1e-4 (single precision). "
        "Speed-up = best peer / ours in the same dtype; GB/s = 2 · bytes/amplitude · 2^n · batch · passes / "
        "time; roofline = GB/s / NumPy copy bandwidth of a buffer of the same size.",
        "",
    ]
    present = [w for w in WORKLOAD_ORDER if any(r["workload"] == w for r in doc["records"])]
    notes: dict[tuple, list[int]] = defaultdict(list)
    for w in present:
        sims, rows = table_rows(doc["records"], w)
        wl = WORKLOADS.get(w)
        layers = sorted({r["layers"] for r in doc["records"] if r["workload"] == w and r["layers"]})
        title = f"{w}: {wl.title if wl else ''}" + (f", L={layers[0]}" if len(layers) == 1 else "")
        out += [f"## {title}", ""]
        multi_thr = len({row["key"][2] for row in rows}) > 1
        batched = wl.batched if wl else False
        head = ["n"] + (["batch"] if batched else []) + (["threads"] if multi_thr else []) + ["dtype"] + sims
        head += ["best peer", "speed-up"]
        if w == "W3":
            head += ["grad / fwd"]
        if batched:
            head += ["ours samples/s"]
        if w in ("W1", "W2", "G1"):
            head += ["GB/s", "roofline"]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in rows:
            n, b, t, dt = row["key"]
            cells = [str(n)] + ([str(b)] if batched else []) + ([str(t)] if multi_thr else []) + [dt]
            cells += [_cell(row["cells"].get(s), with_dtype=w in MIXED_DTYPE_WORKLOADS) for s in sims]
            peer, ours = row["peer"], row["ours"]
            cells += [peer["simulator"] if peer else "—",
                      f"{row['speedup']:.3g}x" if row["speedup"] is not None else "—"]
            if w == "W3":
                cells += [f"{row['ratio']:.2f}" if row["ratio"] is not None else "—"]
            if batched:
                cells += [f"{b / _median(ours):,.0f}" if ours and _median(ours) else "—"]
            if w in ("W1", "W2", "G1"):
                cells += [_gb(ours["effective_bandwidth_bytes_per_s"]) if ours else "—",
                          f"{ours['roofline_fraction']:.0%}" if ours and ours["roofline_fraction"] is not None
                          else "—"]
            out.append("| " + " | ".join(cells) + " |")
            for s, r in row["cells"].items():
                if r["status"] != "ok":
                    notes[(w, s, r["dtype"], r["status"], _short_reason(r["reason"] or ""))].append(n)
        out.append("")
    if notes:
        out += ["## Failed and skipped rows", ""]
        for (w, s, dt, status, reason), ns in notes.items():
            sizes = ", ".join(str(x) for x in sorted(set(ns)))
            out.append(f"- {w} {s} {dt} n={sizes}: {status}: {reason}")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------- plots
def _figure(n_panels: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(3, max(1, n_panels))
    rows = math.ceil(max(1, n_panels) / cols)
    fig = Figure(figsize=(5.2 * cols, 3.9 * rows), dpi=PLOT_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(max(1, n_panels))]
    return fig, axes


def _integer_x(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write(path, buf.getvalue())


def _series(records, workload, pick):
    """``{label: [(n, y), ...]}`` over ok records of ``workload`` at the largest thread count."""
    recs = [r for r in records if r["workload"] == workload and r["status"] == "ok"]
    if not recs:
        return {}
    top = max(r["threads"] for r in recs)
    out: dict[str, list] = defaultdict(list)
    for r in recs:
        if r["threads"] != top:
            continue
        y = pick(r)
        if y is not None:
            label = f"{r['simulator']} {r['dtype']}" + (f" B={r['batch']}" if WORKLOADS.get(workload)
                                                         and WORKLOADS[workload].batched else "")
            out[label].append((r["n_qubits"], y))
    return {k: sorted(v) for k, v in out.items()}


def write_plots(doc: dict, folder: str | Path) -> list[Path]:
    """Time vs qubits, speed-up over the best peer, fraction of roofline; returns the files written."""
    folder = Path(folder)
    records = doc["records"]
    present = [w for w in WORKLOAD_ORDER if any(r["workload"] == w and r["status"] == "ok" for r in records)]
    written = []
    if not present:
        log.info("no ok rows: no plots")
        return written
    # time vs qubits
    fig, axes = _figure(len(present))
    for ax, w in zip(axes, present):
        for label, pts in _series(records, w, lambda r: r["time_s"]["median"]).items():
            ax.plot(*zip(*pts), marker="o", ls="--" if not is_ours(label) else "-", label=label)
        ax.set_yscale("log")
        ax.set_title(f"{w}: {WORKLOADS[w].title}" if w in WORKLOADS else w, fontsize=9)
        ax.set_xlabel("qubits")
        _integer_x(ax)
        ax.set_ylabel("median time per run (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    written.append(_save(fig, folder / PLOT_NAMES[0]))
    # speed-up over the best peer
    sp = [w for w in present if any(row["speedup"] for row in table_rows(records, w)[1])]
    fig, axes = _figure(len(sp))
    for ax, w in zip(axes, sp):
        lines: dict[str, list] = defaultdict(list)
        for row in table_rows(records, w)[1]:
            if row["speedup"]:
                n, b, t, dt = row["key"]
                lines[f"{dt} (t={t})"].append((n, row["speedup"]))
        for label, pts in lines.items():
            ax.plot(*zip(*sorted(pts)), marker="o", label=label)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{w}: speed-up of ours over the best peer", fontsize=9)
        ax.set_xlabel("qubits")
        _integer_x(ax)
        ax.set_ylabel("best peer time / our time")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if not sp:
        axes[0].text(0.5, 0.5, "no peer rows", ha="center", va="center")
    written.append(_save(fig, folder / PLOT_NAMES[1]))
    # roofline fraction
    rf = [w for w in present if any(r["roofline_fraction"] is not None for r in records if r["workload"] == w)]
    fig, axes = _figure(len(rf))
    for ax, w in zip(axes, rf):
        for label, pts in _series(records, w, lambda r: r["roofline_fraction"]).items():
            ax.plot(*zip(*pts), marker="o", label=label)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_title(f"{w}: fraction of the copy-bandwidth roofline", fontsize=9)
        ax.set_xlabel("qubits")
        _integer_x(ax)
        ax.set_ylabel("effective / copy bandwidth")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if not rf:
        axes[0].text(0.5, 0.5, "no bandwidth rows", ha="center", va="center")
    written.append(_save(fig, folder / PLOT_NAMES[2]))
    return written


def write_outputs(doc: dict, folder: str | Path, *, command: str | None = None, plots: bool = True) -> dict:
    """Write the JSON, the Markdown and the plots into ``folder``; returns their paths."""
    folder = Path(folder)
    paths = {"json": dump(doc, folder / JSON_NAME)}
    paths["markdown"] = atomic_write(folder / MARKDOWN_NAME, markdown(doc, command))
    paths["plots"] = write_plots(doc, folder) if plots else []
    return paths
