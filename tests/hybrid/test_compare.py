"""hybrid.compare and the selection options: several split seeds, paired differences, k-fold."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from hybrid import cli
from hybrid.compare import compare_over_seeds, parse_seeds, summarize
from hybrid.experiment import DataConfig, RunConfig, fold_indices, prepare_data, train_run


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2, 5-6") == [0, 2, 5, 6]
    for bad, match in (("a", "'a' is not N or N-M"), ("3-1", "backwards"), ("1,1", "twice"), ("", "not N")):
        with pytest.raises(ValueError, match=match):
            parse_seeds(bad)


def test_summary_statistics_against_scipy():
    acc = {"logreg": [0.88, 0.885, 0.87], "quantum": [0.89, 0.88, 0.885]}
    res = {m: {s: {"test": {"accuracy": a}, "parameters": 10} for s, a in enumerate(v)} for m, v in acc.items()}
    out = summarize(res)["models"]
    assert out["quantum"]["mean"] == pytest.approx(np.mean(acc["quantum"]))
    assert out["quantum"]["std"] == pytest.approx(np.std(acc["quantum"], ddof=1))
    d = np.subtract(acc["quantum"], acc["logreg"])
    vs = out["quantum"]["vs_logreg"]
    assert vs["differences"] == pytest.approx(d.tolist()) and vs["mean"] == pytest.approx(d.mean())
    assert vs["p_paired_t"] == pytest.approx(stats.ttest_rel(acc["quantum"], acc["logreg"]).pvalue)
    assert "vs_logreg" not in out["logreg"]


def test_compare_over_seeds_pairs_models_on_the_same_splits_and_resumes(tmp_path, sst2_dir, minilm_npz):
    cfg = RunConfig(data=DataConfig(data=str(sst2_dir), embeddings=str(minilm_npz), per_label=20, max_test=200),
                    train={"epochs": 2, "progress": False, "patience": None})
    changes = {"encoder.layers": 1}
    summary = compare_over_seeds(cfg, [0, 1], tmp_path, ("mlp-0",), head_changes=changes)
    assert set(summary["models"]) == {"quantum-default", "mlp-0", "logreg"}
    for seed in (0, 1):
        # the reference is the logistic regression trained on exactly this split
        data = DataConfig(data=str(sst2_dir), embeddings=str(minilm_npz), per_label=20, max_test=200, seed=seed)
        ref = train_run(RunConfig(model="logreg", data=data, reference=False), tmp_path / f"check-{seed}",
                        dataset=prepare_data(data)).metrics["test"]["accuracy"]
        assert summary["models"]["logreg"]["test_accuracy"][seed] == pytest.approx(ref)
        rec = json.loads((tmp_path / f"seed-{seed}" / "quantum-default" / "config.json").read_text())
        assert rec["data"]["seed"] == seed and rec["head"]["encoder"]["layers"] == 1
    mtime = (tmp_path / "seed-0" / "mlp-0" / "metrics.json").stat().st_mtime_ns
    again = compare_over_seeds(cfg, [0, 1], tmp_path, ("mlp-0",), head_changes=changes)
    assert again["models"] == summary["models"]
    assert (tmp_path / "seed-0" / "mlp-0" / "metrics.json").stat().st_mtime_ns == mtime   # read back, not rerun
    assert json.loads((tmp_path / "summary.json").read_text())["models"]["mlp-0"]["seeds"] == [0, 1]


def test_cli_split_seeds_prints_mean_std_and_paired_difference(tmp_path, sst2_dir, minilm_npz, capsys):
    rc = cli.main(["train", "--data", str(sst2_dir), "--embeddings", str(minilm_npz), "--max-test", "100",
                   "--no-progress", "--epochs", "1", "--encoder-layers", "1", "--split-seeds", "0-1",
                   "--compare", "logreg,svc", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "quantum-default" in out and "svc" in out and "±" in out
    assert (tmp_path / "summary.json").is_file() and (tmp_path / "seed-1" / "svc" / "metrics.json").is_file()
    rc = cli.main(["train", "--data", str(sst2_dir), "--compare", "svc"])
    assert rc == cli.EXIT_USAGE and "--compare needs --split-seeds" in capsys.readouterr().err


def test_fold_indices_are_stratified_and_seeded():
    y = np.array([0] * 10 + [1] * 7)
    f = fold_indices(y, 3, seed=0)
    for k in range(3):
        assert abs((f[y == 0] == k).sum() - 10 / 3) < 1 and abs((f[y == 1] == k).sum() - 7 / 3) < 1
    assert np.array_equal(f, fold_indices(y, 3, seed=0)) and not np.array_equal(f, fold_indices(y, 3, seed=1))
    with pytest.raises(ValueError, match="label 1 has 2"):
        fold_indices(np.array([0, 0, 0, 1, 1]), 3, 0)


def test_k_fold_selects_the_epoch_count_and_refits_on_pooled_rows(tmp_path, sst2_dir, minilm_npz):
    cfg = RunConfig(data=DataConfig(data=str(sst2_dir), embeddings=str(minilm_npz), per_label=30, max_test=100),
                    train={"epochs": 4, "progress": False, "patience": None}, folds=3, reference=False)
    res = train_run(cfg, tmp_path)
    cv = json.loads((tmp_path / "config.json").read_text())["cross_validation"]
    assert cv["folds"] == 3 and cv["rows"] == 60 and len(cv["val_loss"]) == 3
    assert cv["epochs"] == int(round(float(np.median(cv["best_epochs"]))))
    assert len(res.metrics["history"]["epochs"]) == cv["epochs"]            # the refit ran that many epochs
    assert res.metrics["validation"]["cross_validated"] and res.metrics["validation"]["n"] == 60
    with pytest.raises(ValueError, match="folds"):
        RunConfig(model="logreg", folds=3)


def test_fold_committee_averages_the_fold_heads_and_is_saved_whole(tmp_path, sst2_dir, minilm_npz):
    import torch

    from hybrid.experiment import cross_validate, fold_committee, load_run_model, prepare_data
    from hybrid.training import predict_logits

    data = DataConfig(data=str(sst2_dir), embeddings=str(minilm_npz), per_label=30, max_test=100)
    cfg = RunConfig(data=data, train={"epochs": 2, "progress": False, "patience": None}, folds=3,
                    fold_final="committee", reference=False)
    ds = prepare_data(cfg.data)
    head_cfg = cfg.head_for(ds.dim)
    cv, heads = cross_validate(head_cfg, cfg.train_config(), ds, 3, committee=True)
    assert len(heads) == 3 and cv["folds"] == 3
    committee = fold_committee(heads)
    X = ds.X["test"][:20]
    mean = torch.stack([predict_logits(h, X) for h in heads]).mean(dim=0)
    assert torch.allclose(predict_logits(committee, X), mean, atol=1e-5)
    assert committee.n_parameters == 3 * heads[0].n_parameters == committee.config.parameter_counts()["total"]
    # the heads differ (seed + fold, different training rows), so the committee is not one head three times
    assert not torch.allclose(predict_logits(heads[0], X), predict_logits(heads[1], X))
    # the same through a run: the saved committee predicts as the trained one
    res = train_run(cfg, tmp_path / "run")
    back = load_run_model(tmp_path / "run")
    assert torch.allclose(predict_logits(back, X), predict_logits(res.model, X), atol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["head_info"]["parameters"]["total"] == \
        res.model.n_parameters
    with pytest.raises(ValueError, match="fold_final='committee'.*set folds"):
        RunConfig(fold_final="committee")
    with pytest.raises(ValueError, match="fold_final"):
        RunConfig(folds=3, fold_final="bagging")
    with pytest.raises(ValueError, match="one configuration"):
        fold_committee([heads[0], fold_committee(heads)])


def test_selection_on_validation_loss_is_the_default():
    from hybrid.training import TrainConfig, _selection_key

    assert TrainConfig().select == "loss"
    # lower loss wins over higher accuracy; accuracy breaks loss ties
    assert _selection_key("loss", 0.80, 0.40) < _selection_key("loss", 0.90, 0.45)
    assert _selection_key("loss", 0.90, 0.40) < _selection_key("loss", 0.80, 0.40)
    assert _selection_key("accuracy", 0.90, 0.45) < _selection_key("accuracy", 0.80, 0.40)
    with pytest.raises(ValueError, match="select"):
        TrainConfig(select="f1")


def test_baselines_beside_fine_tuning_get_the_body_the_quantum_head_starts_from():
    from hybrid.compare import baseline_finetune
    from hybrid.finetune import FinetuneConfig

    setfit = FinetuneConfig(mode="setfit", progress=False)
    assert baseline_finetune(None) is None
    assert baseline_finetune(setfit) is setfit
    assert baseline_finetune(FinetuneConfig(mode="full", progress=False)) is None       # frozen base body
    full = FinetuneConfig(mode="full", lr=5e-6, epochs=3, setfit_first=True, progress=False)
    assert baseline_finetune(full) == setfit                                              # the same SetFit body
