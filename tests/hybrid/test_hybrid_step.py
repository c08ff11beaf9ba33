"""bench.hybrid_step: the three implementations of one head training step agree."""

from __future__ import annotations

import pytest

from bench import hybrid_step as hs




def test_paper_sized_config_is_the_886_head():
    from hybrid.head import preset

    assert hs.paper_sized_config(14) == preset("paper-886")
    assert hs.paper_sized_config(14).parameter_counts()["total"] == 886


def test_registry():
    assert set(hs.ADAPTERS) == {"qhybrid", "pennylane-lightning", "torch-statevector"} == set(hs.DTYPES)
    assert hs.available("qhybrid") and hs.available("torch-statevector")
    assert not hs.available("qiskit-head")


def test_implementations_agree_and_train():
    names = [n for n in hs.ADAPTERS if hs.available(n)]
    firsts, seconds = {}, {}
    for name in names:
        step = hs.ADAPTERS[name](3, 2, 0)
        firsts[name], seconds[name] = step(), step()
    for name in names:
        assert firsts[name] == pytest.approx(firsts["qhybrid"], abs=1e-4), name
        assert seconds[name] == pytest.approx(seconds["qhybrid"], abs=1e-3), name
        assert seconds[name] != firsts[name]                      # the optimiser moved the weights


def test_epoch_runs():
    assert hs.make_epoch(3, samples=20, batch=8)() > 0


def test_main_writes_json(tmp_path, capsys):
    out = tmp_path / "step.json"
    assert hs.main(["--qubits", "3", "--batch", "2", "--repeats", "1", "--only", "qhybrid", "torch-statevector",
                    "--epoch-samples", "16", "--json", str(out)]) == 0
    import json

    res = json.loads(out.read_text())
    assert set(res["steps"]) == {"qhybrid", "torch-statevector"} and res["epoch_s"] > 0
    assert "vs qhybrid" in capsys.readouterr().out
