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


def test_peer_angle_matches_the_reference_definitions():
    """The peers' ``_angle``: ``scale · w[i] + offset``, ``scale · x[..., i] + offset`` (batched or one
    row), the constant; anything else is refused."""
    import numpy as np

    from qsim import Const, Input, Weight

    rng = np.random.default_rng(0)
    w, x = rng.normal(size=3), rng.normal(size=(4, 2))
    assert hs._angle(Weight(2, 0.5, 0.1), w, x) == 0.5 * w[2] + 0.1
    np.testing.assert_array_equal(hs._angle(Input(1, 2.0, -0.3), w, x), 2.0 * x[:, 1] - 0.3)
    assert hs._angle(Input(1, 2.0, -0.3), w, x[0]) == 2.0 * x[0, 1] - 0.3
    assert hs._angle(Const(0.7), w, None) == 0.7
    with pytest.raises(TypeError, match="unknown angle reference"):
        hs._angle(0.7, w, x)
