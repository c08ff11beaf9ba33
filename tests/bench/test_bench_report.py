"""Markdown table and plots from a synthetic document."""

from __future__ import annotations

from bench.report import PLOT_NAMES, format_time, markdown, table_rows, write_outputs
from bench.schema import load, new_document, new_record

MACHINE = {"cpu_model": "Test CPU", "cores": 2, "memory_bytes": 8 << 30, "copy_bandwidth_bytes_per_s": 1e10,
           "gpu": None, "packages": {"numpy": "2.0"}}


def _rec(sim, n, t, dtype="complex128", workload="W1", **kw):
    return new_record(workload=workload, simulator=sim, backend="x", n_qubits=n, layers=4, dtype=dtype, threads=2,
                      times=[t, t, t] if t else None, **kw)


def _doc():
    recs = [
        _rec("qhybrid-numba", 20, 0.1, n_passes=80, effective_bandwidth_bytes_per_s=8e9, roofline_fraction=0.8),
        _rec("qulacs", 20, 0.4), _rec("pennylane-lightning", 20, 0.5),
        _rec("qhybrid-numba", 20, 0.06, dtype="complex64"), _rec("qsimcirq", 20, 0.09, dtype="complex64"),
        _rec("qhybrid-numba", 22, 0.4), _rec("qulacs", 22, None, status="skipped", reason="predicted 3 s per run: x"),
        _rec("pennylane-lightning", 22, None, status="failed", reason="disagrees with the reference: 0.1"),
        _rec("qhybrid-numba", 8, 0.002, workload="W3"), _rec("qhybrid-numba-forward", 8, 0.001, workload="W3"),
        _rec("pennylane-lightning", 8, 0.01, workload="W3"),
    ]
    return new_document(MACHINE, recs)


def test_table_rows_speedup_and_ratio():
    sims, rows = table_rows(_doc()["records"], "W1")
    assert sims[0] == "qhybrid-numba" and set(sims) == {"qhybrid-numba", "qulacs", "pennylane-lightning", "qsimcirq"}
    by = {r["key"]: r for r in rows}
    assert by[(20, 1, 2, "complex128")]["speedup"] == 4.0
    assert abs(by[(20, 1, 2, "complex64")]["speedup"] - 1.5) < 1e-12
    assert by[(22, 1, 2, "complex128")]["speedup"] is None          # no ok peer
    _, w3 = table_rows(_doc()["records"], "W3")
    assert w3[0]["ratio"] == 2.0 and w3[0]["speedup"] == 5.0


def test_markdown_lists_times_and_reasons():
    md = markdown(_doc(), "python -m bench --quick")
    assert "`python -m bench --quick`" in md
    assert "| 20 | complex128 | 100 ms | 400 ms | 500 ms |" in md and "4x" in md and "80%" in md
    assert "- W1 qulacs complex128 n=22: skipped: over the time budget" in md
    assert "- W1 pennylane-lightning complex128 n=22: failed: disagrees with the reference: 0.1" in md
    assert "grad / fwd" in md
    assert format_time(0.00123) == "1.23 ms" and format_time(2.0) == "2 s" and format_time(4e-7) == "400 ns"


def test_write_outputs(tmp_path):
    paths = write_outputs(_doc(), tmp_path, command="qhybrid bench")
    assert load(paths["json"]) == _doc() | {"created": load(paths["json"])["created"]}
    assert [p.name for p in paths["plots"]] == list(PLOT_NAMES)
    assert all(p.stat().st_size > 1000 for p in paths["plots"])
