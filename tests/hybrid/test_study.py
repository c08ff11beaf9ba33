"""hybrid.study / hybrid.analysis: designs, main effects, selection, the study runner and its command."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from hybrid import cli
from hybrid.analysis import Observation, main_effects, paired_comparison, select_by_validation_loss, t_interval
from hybrid.study import (
    ABLATIONS, analyse_study, build_run, fractional_factorial, full_factorial, make_design, parse_spec, plan_study,
    read_spec, run_study,
)

# --------------------------------------------------------------------------------------------
# Designs


def test_full_factorial_has_every_combination_once():
    d = full_factorial([("a", 2), ("b", 3), ("c", 2)])
    assert len(d.cells) == 12 == len(set(d.cells))
    assert set(d.cells) == set(itertools.product(range(2), range(3), range(2)))
    assert d.coded is None                                   # a 3-level factor: no ±1 matrix
    two = full_factorial([("a", 2), ("b", 2)])
    assert two.coded.tolist() == [[-1, -1], [-1, 1], [1, -1], [1, 1]]


def test_half_fraction_is_balanced_orthogonal_with_its_alias_structure():
    d = fractional_factorial(["A", "B", "C", "D"], ["D=ABC"])
    X = d.coded
    assert X.shape == (8, 4) and len({tuple(r) for r in X}) == 8
    assert (X.sum(axis=0) == 0).all()                        # balanced: 4 runs at each level
    np.testing.assert_array_equal(X.T @ X, 8 * np.eye(4))    # orthogonal columns
    np.testing.assert_array_equal(X[:, 3], X[:, 0] * X[:, 1] * X[:, 2])
    assert d.defining_relation == ["ABCD"] and d.resolution == 4
    assert d.aliases == {"A": ["BCD"], "B": ["ACD"], "C": ["ABD"], "D": ["ABC"]}
    neg = fractional_factorial(["A", "B", "C", "D"], ["D=-ABC"])
    np.testing.assert_array_equal(neg.coded[:, 3], -neg.coded[:, 0] * neg.coded[:, 1] * neg.coded[:, 2])
    assert neg.defining_relation == ["-ABCD"]


def test_quarter_fraction_resolution_three_and_its_defining_relation():
    d = fractional_factorial(list("ABCDE"), ["D=AB", "E=AC"])
    assert len(d.cells) == 8 and d.resolution == 3
    assert d.defining_relation == ["ABD", "ACE", "BCDE"]
    assert d.aliases["A"] == ["BD", "CE", "ABCDE"]
    X = d.coded
    np.testing.assert_array_equal(X.T @ X, 8 * np.eye(5))   # main effects still orthogonal
    # the interaction column AB is the D column: aliased, as the relation says
    np.testing.assert_array_equal(X[:, 0] * X[:, 1], X[:, 3])


@pytest.mark.parametrize("gens, match", [
    (["C=A"], "resolution 2"), (["C=AB", "C=AB"], "generated twice"), (["D=AB", "E=AD"], "generated factor"),
    (["C-AB"], "bad generator"), (["Z=AB"], "bad generator"), ([], "needs generators"),
])
def test_fractional_generators_are_checked(gens, match):
    names = list("ABCDE")[: max(3, len(gens) + 3)]
    with pytest.raises(ValueError, match=match):
        fractional_factorial(names, gens)


def test_fractional_design_needs_two_levels():
    spec = parse_spec({"data": {}, "design": "fractional", "generators": ["C=AB"],
                       "factors": [{"name": "qubits", "levels": [3, 4, 5]}, {"name": "lr", "levels": [0.1, 0.2]},
                                   {"name": "reuploads", "levels": [1, 2]}]})
    with pytest.raises(ValueError, match=r"\['qubits'\] have more"):
        make_design(spec)


# --------------------------------------------------------------------------------------------
# Statistics


def _synthetic(design, coef, seeds, noise=0.0, rng=None):
    """Accuracy = 0.8 + Σ coef_j x_j + a seed offset (+ noise): the effect of j is 2 coef_j."""
    obs = []
    for s in seeds:
        for cell, x in zip(design.cells, design.coded):
            value = 0.8 + float(np.dot(coef, x)) + 0.05 * s + (rng.normal(0, noise) if noise else 0.0)
            obs.append(Observation(cell, s, value))
    return obs


def test_main_effects_recover_known_effects_and_cancel_seed_offsets():
    d = fractional_factorial(list("ABCD"), ["D=ABC"])
    coef = np.array([0.02, -0.01, 0.0, 0.03])
    effects = main_effects(_synthetic(d, coef, [0, 1, 2]), [(n, ["lo", "hi"]) for n in "ABCD"])
    for e, c in zip(effects, coef):
        assert e["effect"]["mean"] == pytest.approx(2 * c, abs=1e-12)
        assert e["effect"]["half_width"] == pytest.approx(0, abs=1e-12)   # seed offsets cancel exactly
        assert [lv["deviation"]["mean"] for lv in e["levels"]] == pytest.approx([-c, c], abs=1e-12)
        assert e["complete"] and e["seeds"] == [0, 1, 2]


def test_main_effect_interval_is_the_t_interval_of_per_seed_effects():
    d = full_factorial([("A", 2), ("B", 2)])
    rng = np.random.default_rng(3)
    obs = _synthetic(d, np.array([0.02, 0.0]), range(6), noise=0.01, rng=rng)
    e = main_effects(obs, [("A", ["0", "1"]), ("B", ["0", "1"])])[0]["effect"]
    per_seed = []
    for s in range(6):
        hi = np.mean([o.value for o in obs if o.seed == s and o.levels[0] == 1])
        lo = np.mean([o.value for o in obs if o.seed == s and o.levels[0] == 0])
        per_seed.append(hi - lo)
    half = stats.t.ppf(0.975, 5) * np.std(per_seed, ddof=1) / np.sqrt(6)
    assert e["mean"] == pytest.approx(np.mean(per_seed)) and e["half_width"] == pytest.approx(half)
    assert e["low"] < 0.04 < e["high"]                                   # the true effect is inside


def test_three_level_factor_deviations_and_missing_cells():
    d = full_factorial([("Q", 3), ("M", 2)])
    obs = [Observation(c, s, 0.7 + 0.01 * c[0] + 0.1 * s) for s in (0, 1) for c in d.cells]
    e = main_effects(obs, [("Q", ["3", "4", "5"]), ("M", ["1", "2"])])
    assert [lv["deviation"]["mean"] for lv in e[0]["levels"]] == pytest.approx([-0.01, 0.0, 0.01])
    assert e[0]["effect"] is None and e[1]["effect"]["mean"] == pytest.approx(0.0)
    partial = [o for o in obs if not (o.seed == 1 and o.levels[0] == 2)]   # seed 1 lost level Q=5
    again = main_effects(partial, [("Q", ["3", "4", "5"]), ("M", ["1", "2"])])
    assert again[0]["seeds"] == [0] and not again[0]["complete"]
    assert t_interval([0.5]).half is None


def _metrics(test, val_loss, val_acc=0.8, params=10):
    return {"test": {"accuracy": test}, "validation": {"loss": val_loss, "accuracy": val_acc}, "parameters": params}


def test_selection_is_on_validation_loss_never_on_test_accuracy():
    cells = {
        "low-loss": {0: _metrics(0.80, 0.30), 1: _metrics(0.81, 0.32)},
        "high-test": {0: _metrics(0.90, 0.50, 0.9), 1: _metrics(0.91, 0.52, 0.9)},   # best on test and val acc
        "incomplete": {0: _metrics(0.95, 0.10)},                                      # lacks seed 1
    }
    sel = select_by_validation_loss(cells, [0, 1])
    assert sel["best"] == "low-loss"
    assert [r["cell"] for r in sel["ranking"]] == ["low-loss", "high-test"]
    assert sel["ranking"][0]["validation_loss"] == pytest.approx(0.31)
    with pytest.raises(ValueError, match="no cell has a validation loss"):
        select_by_validation_loss({"svc": {0: {"test": {"accuracy": 0.9}, "validation": {"accuracy": 0.8}}}})


def test_paired_comparison_is_compare_summarize_with_the_baseline_as_reference():
    head = {s: _metrics(a, 0.3) for s, a in enumerate([0.89, 0.88, 0.885])}
    base = {s: _metrics(a, 0.3, params=385) for s, a in enumerate([0.88, 0.885, 0.87])}
    c = paired_comparison(head, base, "best")
    d = np.subtract([0.89, 0.88, 0.885], [0.88, 0.885, 0.87])
    assert c["difference"]["mean"] == pytest.approx(d.mean()) and c["difference"]["std"] == pytest.approx(d.std(ddof=1))
    assert c["difference"]["p_paired_t"] == pytest.approx(stats.ttest_rel([0.89, 0.88, 0.885],
                                                                          [0.88, 0.885, 0.87]).pvalue)
    assert c["baseline"]["parameters"] == 385 and c["head"]["mean"] == pytest.approx(np.mean([0.89, 0.88, 0.885]))


# --------------------------------------------------------------------------------------------
# Configs and runs


def test_spec_errors_name_the_bad_value(tmp_path):
    ok = {"data": {}, "factors": [{"name": "qubits", "levels": [3, 4]}]}
    for bad, match in (
        ({**ok, "factors": [{"name": "bogus", "levels": [1, 2]}]}, "unknown factor 'bogus'"),
        ({**ok, "factors": [{"name": "lr", "levels": [0.1]}]}, "at least 2 levels"),
        ({**ok, "colour": 1}, r"unknown keys \['colour'\]"),
        ({"factors": []}, r"\[data\] table is required"),
        ({**ok, "ablations": ["no-brain"]}, "unknown ablation 'no-brain'"),
        ({**ok, "factors": [{"name": "arm", "levels": ["x", "no-qpu"]}]}, "level 'x' is neither"),
        ({**ok, "seeds": "3-1"}, "backwards"),
        ({**ok, "robustness": {"shots": [0]}}, "positive integers"),
        ({**ok, "generators": ["C=AB"]}, "need design = 'fractional'"),
    ):
        with pytest.raises(ValueError, match=match):
            parse_spec(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_spec(tmp_path / "missing.toml")
    (tmp_path / "x.yaml").write_text("a: 1")
    with pytest.raises(ValueError, match=r"\.toml or \.json"):
        read_spec(tmp_path / "x.yaml")


def _base(sst2_dir, minilm_npz):
    return {"model": "quantum", "preset": "default", "reference": False, "head_overrides": None,
            "data": {"data": str(sst2_dir), "embeddings": str(minilm_npz), "per_label": 20, "max_test": 100,
                     "split": "paper", "seed": 0}}


def test_built_runs_and_ablations_are_head_configs(sst2_dir, minilm_npz):
    base = _base(sst2_dir, minilm_npz)
    cfg = build_run(base, [("qubits", 3), ("connectivity", 1), ("lr", 0.05)], {}, 384)
    head = cfg.head_for(384)
    assert head.encoder.n_qubits == 3 and head.components == 7        # 2**3 amplitudes, one for the bias
    assert head.encoder.connectivity == head.qpu.connectivity == 1 and cfg.train.lr == 0.05
    heads = {a: build_run(base, [("arm", a)], {}, 384).head_for(384) for a in ABLATIONS}
    assert not heads["no-qpu"].has_qpu and heads["no-qpu"].parameter_counts()["qpu"] == 0
    assert heads["no-encoders"].n_encoders == 0 and heads["no-encoders"].qpu_qubits == 5
    assert heads["no-reupload"].qpu.reuploads == 1
    assert heads["connectivity-1"].encoder.connectivity == 1 == heads["connectivity-1"].qpu.connectivity
    with pytest.raises(ValueError, match="connectivity"):
        build_run(base, [("qubits", 2), ("connectivity", 2)], {}, 384)


def _tiny_spec(sst2_dir, minilm_npz, **extra):
    return parse_spec({
        "name": "tiny", "seeds": [0, 1], "baselines": ["logreg"], "ablations": ["no-qpu"],
        "data": {"data": str(sst2_dir), "embeddings": str(minilm_npz), "per_label": 20, "max_test": 100},
        "base": {"train": {"epochs": 1, "patience": None}, "head_overrides": {"encoder.layers": 1}},
        "factors": [{"name": "qubits", "levels": [3, 4]}, {"name": "reuploads", "levels": [1, 2]}],
        "robustness": {"shots": [100]}, **extra})


def test_plan_names_the_bad_level(sst2_dir, minilm_npz):
    spec = _tiny_spec(sst2_dir, minilm_npz, factors=[{"name": "connectivity", "levels": [1, 9]}])
    with pytest.raises(ValueError, match=r"cell-01 \(connectivity=9\).*connectivity"):
        plan_study(spec)


def _mtimes(root):
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in list(root.glob("runs/*/seed-*/metrics.json")) + list(root.glob("robust/*/*.json"))}


def test_tiny_study_end_to_end_resumes_and_keeps_finished_runs(tmp_path, sst2_dir, minilm_npz, monkeypatch):
    import hybrid.study as study_mod

    spec = _tiny_spec(sst2_dir, minilm_npz)
    root = tmp_path / "study"
    real = study_mod.execute_run
    calls = []

    def interrupted_at_third(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(study_mod, "execute_run", interrupted_at_third)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, root, progress=False)
    index = json.loads((root / "index.json").read_text())
    assert index["finished"] == 2 and len(_mtimes(root)) == 2            # what finished is kept
    kept = _mtimes(root)
    monkeypatch.setattr(study_mod, "execute_run", real)
    result = run_study(spec, root, progress=False)
    # 4 cells + base + 1 ablation + logreg, x 2 seeds; then 1 shots arm x 2 seeds
    assert result["planned"] == 16 and result["finished"] == 16 and not result["failed"]
    after = _mtimes(root)
    assert all(after[k] == v for k, v in kept.items())                     # not retrained
    assert len(after) == 16
    rec = json.loads((root / "runs" / "cell-01" / "seed-1" / "config.json").read_text())
    assert rec["data"]["seed"] == 1 and rec["head"]["encoder"]["n_qubits"] == 3 and rec["head"]["qpu"]["reuploads"] == 2
    assert rec["head"]["encoder"]["layers"] == 1
    # a third call trains nothing; a deleted run is the only one trained again
    import shutil

    shutil.rmtree(root / "runs" / "cell-02" / "seed-0")
    again = run_study(spec, root, progress=False)
    assert again["finished"] == 16
    later = _mtimes(root)
    changed = {k for k in later if later[k] != after.get(k)}
    assert changed == {"runs/cell-02/seed-0/metrics.json"}
    # the analysis: two factors, the best by validation loss, the ablation paired with the base head
    a = analyse_study(root)
    assert [e["factor"] for e in a["main_effects"]] == ["qubits", "reuploads"]
    sel = a["selection"]
    assert sel["best"] == min(sel["ranking"], key=lambda r: r["validation_loss"])["cell"]
    assert set(a["best_vs_baselines"]) == {"logreg"} and a["ablations"]["no-qpu"]["of"] == "base"
    assert a["robustness"]["arms"][0]["shots"] == 100 and not a["missing"]
    # another design in the same folder is refused
    other = _tiny_spec(sst2_dir, minilm_npz, factors=[{"name": "qubits", "levels": [3, 5]}])
    with pytest.raises(ValueError, match="holds another study"):
        run_study(other, root, progress=False)


# --------------------------------------------------------------------------------------------
# The command


def _write_toml(path, body):
    path.write_text(body)
    return str(path)


def test_cli_dry_run_prints_the_design(tmp_path, sst2_dir, minilm_npz, capsys):
    cfg = _write_toml(tmp_path / "s.toml", f"""
name = "screen"
seeds = "0-2"
design = "fractional"
generators = ["C=AB"]
baselines = ["logreg", "svc", "mlp-matched"]
[data]
data = "{sst2_dir}"
embeddings = "{minilm_npz}"
[[factors]]
name = "qubits"
levels = [4, 5]
[[factors]]
name = "encoder_layers"
levels = [2, 3]
[[factors]]
name = "lr"
levels = [0.005, 0.01]
""")
    rc = cli.main(["study", cfg, "--out", str(tmp_path / "out"), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0 and "4 cells x 3 seeds" in out and "resolution 3" in out
    assert "qubits is aliased with BC" in out
    assert "x 3 seeds = 18 runs" in out                      # 4 cells + logreg + svc
    assert "phase 2" in out and "3 runs" in out              # mlp-matched x 3 seeds
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, args, match", [
    ('[data]\n[[factors]]\nname = "bogus"\nlevels = [1, 2]\n', [], "unknown factor 'bogus'"),
    ('[data]\n[[factors]]\nname = "reuploads"\nlevels = [1, 0]\n', [], "reuploads=0"),
    (None, [], "study config not found"),
    ('[data]\n', ["--jobs", "0"], "--jobs must be >= 1"),
    ('[data]\nname = \n', [], "not valid TOML"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, sst2_dir, minilm_npz, capsys, body, args, match):
    path = tmp_path / "s.toml"
    if body is not None:
        path.write_text(body.replace("[data]\n", f'[data]\ndata = "{sst2_dir}"\nembeddings = "{minilm_npz}"\n', 1))
    rc = cli.main(["study", str(path), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_USAGE and match in err and err.startswith("qhybrid study: ") and err.count("\n") == 1


def test_cli_unwritable_out_is_refused_before_any_run(tmp_path, sst2_dir, minilm_npz, capsys):
    cfg = _write_toml(tmp_path / "s.toml", f'[data]\ndata = "{sst2_dir}"\nembeddings = "{minilm_npz}"\n')
    (tmp_path / "file").write_text("x")
    rc = cli.main(["study", cfg, "--out", str(tmp_path / "file" / "study"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_USAGE and "is a file, not a folder" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    rc = cli.main(["study", cfg, "--out", str(tmp_path / "full"), "--no-progress"])
    assert rc == cli.EXIT_USAGE and "not empty and not a study folder" in capsys.readouterr().err


def test_bodies_embeddings_and_presets_as_factors_plan_their_own_baselines(sst2_dir, minilm_npz, mpnet_npz):
    spec = parse_spec({
        "name": "bodies", "seeds": [0, 1], "baselines": ["logreg", "mlp-0"],
        "data": {"data": str(sst2_dir), "embeddings": str(minilm_npz)},
        "factors": [{"name": "body", "levels": ["frozen", "setfit"]},
                    {"name": "preset", "levels": ["default", "paper-sized"]}]})
    study = plan_study(spec)
    cells = {c["label"]: study.groups[c["cell"]].config for c in study.cells}
    setfit = cells["body=setfit, preset=paper-sized"]
    assert setfit["finetune"]["mode"] == "setfit" and setfit["data"]["embeddings"] is None
    assert cells["body=frozen, preset=default"]["finetune"] is None
    # the baselines are trained on each body: the frozen embeddings and the SetFit body
    logreg = {n: g.config for n, g in study.groups.items() if g.kind == "baseline" and "logreg" in n}
    assert sorted(logreg) == ["baseline-logreg-data0", "baseline-logreg-data1"]
    assert sorted(str((c["finetune"] or {}).get("mode")) for c in logreg.values()) == ["None", "setfit"]
    frozen = plan_study(parse_spec({
        "data": {"data": str(sst2_dir), "embeddings": str(minilm_npz)}, "ablations": ["no-qpu"],
        "factors": [{"name": "embeddings", "levels": [str(minilm_npz), str(mpnet_npz)]}]}))
    assert sorted(frozen.dims.values()) == [384, 768]
    # the base head is the MiniLM cell: no duplicate group, the ablation hangs on that cell
    assert "base" not in frozen.groups and frozen.base_group == "cell-00"
    assert frozen.groups["ablation-no-qpu"].cell == "cell-00"


def test_second_phase_matches_and_ablates_the_chosen_cell(sst2_dir, minilm_npz):
    from hybrid.study import second_phase

    spec = _tiny_spec(sst2_dir, minilm_npz, ablate="best", baselines=["logreg", "mlp-matched"])
    study = plan_study(spec)
    assert "base" not in study.groups and not any(g.kind == "ablation" for g in study.groups.values())
    later = second_phase(study, "cell-03")
    assert sorted(later) == ["best-ablation-no-qpu", "matched-mlp"]
    chosen = study.groups["cell-03"].run_config(0).head_for(384)
    ablated = later["best-ablation-no-qpu"].run_config(0).head_for(384)
    assert ablated.encoder == chosen.encoder and ablated.linear_input == "encoders_only"
    matched = later["matched-mlp"].run_config(0)
    assert matched.model == "mlp-matched" and matched.head_for(384) == chosen    # its budget is the chosen head's
