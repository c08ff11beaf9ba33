"""The JSON document: round trip and validation against ``qhybrid.bench/1``."""

from __future__ import annotations

import copy
import json

import pytest

from bench.schema import SCHEMA, SchemaError, dump, load, new_document, new_record, validate

MACHINE = {"cpu_model": "Test CPU", "cores": 2, "memory_bytes": 8 << 30, "copy_bandwidth_bytes_per_s": 1.5e10,
           "gpu": None, "packages": {"numpy": "2.0", "python": "3.11"}}


def _doc():
    recs = [
        new_record(workload="W1", simulator="qhybrid-numba", backend="numba", n_qubits=20, layers=4,
                   dtype="complex128", threads=2, n_gates=240, n_passes=80, times=[0.3, 0.2, 0.25],
                   effective_bandwidth_bytes_per_s=1.1e10, roofline_fraction=0.7, max_abs_error=1e-15, load_avg=0.4),
        new_record(workload="W1", simulator="qulacs", backend="QuantumCircuit", n_qubits=26, layers=4,
                   dtype="complex128", threads=2, status="skipped", reason="over the budget"),
        new_record(workload="W2", simulator="qsimcirq", backend="QSimSimulator", n_qubits=8, batch=256, layers=4,
                   dtype="complex64", threads=2, status="failed", reason="disagrees", max_abs_error=0.3),
    ]
    return new_document(MACHINE, recs)


def test_round_trip(tmp_path):
    doc = _doc()
    assert doc["schema"] == SCHEMA
    r = doc["records"][0]
    assert r["time_s"] == {"min": 0.2, "median": 0.25, "max": 0.3, "repeats": 3}
    assert r["bytes_per_amplitude"] == 16 and doc["records"][2]["bytes_per_amplitude"] == 8
    path = dump(doc, tmp_path / "out" / "bench.json")
    assert load(path) == doc
    assert set(json.loads(path.read_text())) == {"schema", "created", "machine", "records"}


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(schema="other/1"), "document.schema"),
    (lambda d: d.pop("machine"), "missing field 'machine'"),
    (lambda d: d["machine"].update(cores="2"), "machine.cores"),
    (lambda d: d["machine"]["packages"].update(numpy=2), "machine.packages"),
    (lambda d: d["records"][0].pop("load_avg"), "missing field 'load_avg'"),
    (lambda d: d["records"][0].update(extra=1), "unknown field 'extra'"),
    (lambda d: d["records"][0].update(status="great"), "status"),
    (lambda d: d["records"][0].update(dtype="complex256"), "dtype"),
    (lambda d: d["records"][0].update(bytes_per_amplitude=8), "does not match"),
    (lambda d: d["records"][0]["time_s"].update(min=1.0), "not ordered"),
    (lambda d: d["records"][0]["time_s"].update(repeats=0), "at least one repeat"),
    (lambda d: d["records"][1].update(reason=None), "needs a reason"),
    (lambda d: d["records"][1]["time_s"].update(median=1.0), "must not carry times"),
    (lambda d: d["records"][0].update(n_qubits=0), "n_qubits = 0"),
    (lambda d: d["records"][0].update(max_abs_error=float("nan")), "not finite"),
    (lambda d: d.update(created="yesterday"), "ISO 8601"),
])
def test_validation_names_the_bad_field(mutate, message):
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(SchemaError, match=message):
        validate(doc)


def test_load_reports_the_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(SchemaError, match="bad.json: not valid JSON"):
        load(p)
    p.write_text(json.dumps({"schema": SCHEMA}))
    with pytest.raises(SchemaError, match="bad.json: document is missing field 'created'"):
        load(p)
