"""Fine-tuning the sentence-transformer body: a SetFit-style contrastive stage, and end to end.

Two ways to make the language model itself learn from the few labelled sentences of a split
(paper.md sections 2 and 12):

* **SetFit stage** (:func:`setfit_body`, Tunstall et al. 2022): sentence pairs drawn from the
  training split, a *positive* pair (same label, target cosine 1) and a *negative* pair (other
  label, target 0) per sentence and iteration, so ``2·iterations·N`` pairs; the body is trained on
  them with sentence-transformers' own ``CosineSimilarityLoss``
  ``L = (cos(u, v) - t)²`` under AdamW with a linear warm-up and decay.  Any head (quantum or
  classical) is then trained on the fine-tuned body's embeddings.  We use sentence-transformers'
  loss module and tokenizer but our own loop rather than its ``Trainer`` or the ``setfit``
  package: the loop is 30 lines, needs neither ``datasets`` nor ``accelerate``, and gives us
  seeded pair sampling, a progress bar and an atomic save that we control.
* **End to end** (:func:`finetune_end_to_end`): the body is unfrozen under a quantum head and
  the cross-entropy gradient flows from the head through qsim's adjoint VJP (the amplitude
  encoder's state cotangent) into the transformer; body and head have their own learning rates.

Fine-tuned bodies are sentence-transformers model folders, cached under
``<cache>/bodies/<model>-<key>`` where the key hashes the base model, the training sentences and
labels (so the split and its seed) and every setting of :class:`FinetuneConfig` that changes the
weights: a rerun with the same inputs reuses the folder.  A folder is written into a temporary
sibling and renamed into place, so an interrupted run leaves no half-written model.
Runs on the CPU by default, on CUDA with ``device="cuda"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hybrid import interrupts
from hybrid.config import JSONConfig, check_choice, check_float, check_int
from hybrid.embeddings import default_cache_dir, load_sentence_transformer, resolve_model, texts_digest

__all__ = [
    "FINETUNE_MODES",
    "SELECTIONS",
    "LENGTH_GROUP_BATCHES",
    "FinetuneConfig",
    "FinetuneResult",
    "body_cache_folder",
    "bf16_supported",
    "contrastive_pairs",
    "length_grouped",
    "select_epoch",
    "finetune_end_to_end",
    "load_body",
    "save_body",
    "setfit_body",
]

logger = logging.getLogger(__name__)

#: ``setfit``: contrastive stage, then a head on the fine-tuned embeddings; ``full``: body and
#: quantum head trained together end to end.
FINETUNE_MODES = ("setfit", "full")
#: How the end-to-end stage picks its epoch (:attr:`FinetuneConfig.selection`).
SELECTIONS = ("one_se", "min_loss")
#: Marker file written last into a finished body folder.
_DONE_FILE = "qhybrid-finetune.json"
#: Batches per window within which SetFit pairs are sorted by token length
#: (:attr:`FinetuneConfig.group_by_length`); the Hugging Face ``Trainer``'s ``group_by_length``
#: uses 50-batch "megabatches" the same way.  Larger windows pad less but make each batch's
#: pairs less random: on MiniLM, paper split 0 (435 sentences, 1,088 batches of 16), windows of
#: 50 batches cut the mean padded length from 46.5 to 31.6 tokens (perfect sorting: 24.9).
LENGTH_GROUP_BATCHES = 50


@dataclass
class FinetuneConfig(JSONConfig):
    """How the body is fine-tuned; round-trips through JSON.

    Attributes:
        mode: :data:`FINETUNE_MODES`.
        model: the body: ``None`` (the bundled all-MiniLM-L6-v2, offline), a local
            sentence-transformers folder or a hub id (:func:`hybrid.embeddings.resolve_model`).
        iterations: SetFit pair iterations: each gives every training sentence one positive
            and one negative pair (SetFit's ``num_iterations``; 20 in its paper).
        epochs: passes over the pairs (SetFit) or over the training sentences (``full``).
        batch_size: pairs (SetFit) or sentences (``full``) per step.
        lr: AdamW learning rate of the body (2e-5, SetFit's default).
        head_lr: learning rate of the quantum head (``full`` only).
        warmup: fraction of the steps with a linear learning-rate warm-up (then linear decay).
        max_length: tokens kept per sentence (``None``: the model's own limit).
        group_by_length: SetFit stage: batches of pairs of similar token length (pairs sorted
            by length within windows of :data:`LENGTH_GROUP_BATCHES` batches, then the batches
            shuffled: the Hugging Face ``group_by_length`` scheme), so a batch pads to less.
            Each batch holds the same kind of pairs as before, drawn from a window instead of
            uniformly; measured on MiniLM, paper split 0, 2 threads: mean padded length 46.5 ->
            31.6 tokens, 0.71 -> 0.52 s a step with the fused AdamW.
        bf16: run the body's forward and backward under ``torch.autocast`` in bfloat16 (weights,
            gradients and the optimizer stay float32).  Needs a CPU with AVX512-BF16 or AMX, or a
            CUDA device with bfloat16; raises otherwise (on other CPUs bfloat16 is emulated and
            slower).  MiniLM SetFit step on a Xeon with AMX, 2 threads: 0.52 -> 0.38 s.
        warm_start: ``full`` only: first train the head alone on the frozen body's embeddings
            (with the run's head training settings), then unfreeze the body ("linear probing
            then fine-tuning", Kumar et al. 2022): a randomly initialised head would otherwise
            send noise gradients into the pretrained body for the first epochs.
        setfit_first: ``full`` only: start from the body after the SetFit stage (same split, seed,
            ``iterations``, ``batch_size``, ``group_by_length`` and ``bf16``, learning rate
            ``setfit_lr``, one epoch over the pairs; cached as a ``setfit`` run would be, so the
            body of ``--finetune setfit`` with the same settings is reused) instead of the base
            model.  The head's projection is then fitted on embeddings that already separate the
            labels.
        setfit_lr: ``full`` with ``setfit_first``: the SetFit stage's learning rate (SetFit's
            2e-5), kept apart from ``lr``, the usually smaller rate of the end-to-end stage.
        selection: ``full`` only, which epoch (0 = the warm-started head on the untouched body)
            is kept (:data:`SELECTIONS`): ``"min_loss"``, the lowest validation loss (accuracy
            breaks ties); ``"one_se"`` (default), the one-standard-error rule (Breiman et al.
            1984; Hastie et al., *Elements of Statistical Learning* 7.10): the earliest epoch
            whose validation loss is within one standard error of the lowest,
            ``L_e <= L_min + sd_i(ℓ_i)/sqrt(n)`` over the per-sentence losses ``ℓ_i`` of the best
            epoch.  On 77 validation sentences the epochs' losses differ by less than their
            standard error (paper split 0: 0.380 / 0.373 / 0.382 against an SE of about 0.05),
            so ``min_loss`` picks among them by noise; ``one_se`` moves off the starting body
            only when the joint stage improves validation loss by more than that.
        seed: seeds pair sampling, batch order and dropout.
        device: torch device (``"cpu"``, ``"cuda"``).
        progress: tqdm bars.
    """

    mode: str = "setfit"
    model: str | None = None
    iterations: int = 20
    epochs: int = 1
    batch_size: int = 16
    lr: float = 2e-5
    head_lr: float = 0.02
    warmup: float = 0.1
    max_length: int | None = None
    group_by_length: bool = True
    bf16: bool = False
    warm_start: bool = True
    setfit_first: bool = False
    setfit_lr: float = 2e-5
    selection: str = "one_se"
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        o = "FinetuneConfig"
        check_choice(o, "mode", self.mode, FINETUNE_MODES)
        check_choice(o, "selection", self.selection, SELECTIONS)
        if self.model is not None and not isinstance(self.model, str):
            self.model = str(self.model)
        self.iterations = check_int(o, "iterations", self.iterations, 1)
        self.epochs = check_int(o, "epochs", self.epochs, 1)
        self.batch_size = check_int(o, "batch_size", self.batch_size, 1)
        self.lr = check_float(o, "lr", self.lr, positive=True)
        self.head_lr = check_float(o, "head_lr", self.head_lr, positive=True)
        self.setfit_lr = check_float(o, "setfit_lr", self.setfit_lr, positive=True)
        self.warmup = check_float(o, "warmup", self.warmup)
        if not 0 <= self.warmup < 1:
            raise ValueError(f"FinetuneConfig.warmup must lie in [0, 1), got {self.warmup!r}")
        if self.max_length is not None:
            self.max_length = check_int(o, "max_length", self.max_length, 2)
        self.seed = check_int(o, "seed", self.seed, 0, 2**32 - 1)
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"FinetuneConfig.device must be a device string like 'cpu', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"FinetuneConfig.device={self.device!r} but torch sees no CUDA device; use 'cpu'")
        for name in ("progress", "warm_start", "setfit_first", "group_by_length", "bf16"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"FinetuneConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.bf16 and not bf16_supported(self.device):
            raise ValueError(f"FinetuneConfig.bf16=true but {self.device!r} has no bfloat16 arithmetic (CPU: "
                             f"AVX512-BF16 or AMX; CUDA: compute capability >= 8.0); leave bf16 false")

    def setfit_stage(self) -> FinetuneConfig:
        """The SetFit stage of this config (``full`` with ``setfit_first``: one epoch over the pairs)."""
        if self.mode == "setfit":
            return self
        return dataclasses.replace(self, mode="setfit", epochs=1, setfit_first=False, lr=self.setfit_lr)

    def weight_settings(self) -> dict[str, Any]:
        """The settings that change the fine-tuned weights (the cache key; not device/progress)."""
        d = self.to_dict()
        for k in ("device", "progress", "model"):
            d.pop(k)
        if self.mode == "setfit":
            for k in ("head_lr", "warm_start", "setfit_first", "setfit_lr", "selection"):
                d.pop(k)
        else:
            d.pop("group_by_length")  # the end-to-end stage batches sentences, not pairs
        return d


# --------------------------------------------------------------------------------------------
# The body


def load_body(model: str | None, device: str = "cpu", max_length: int | None = None):
    """A ``SentenceTransformer`` for ``model`` (see :func:`hybrid.embeddings.resolve_model`).

    Raises:
        EmbeddingError: sentence-transformers missing, or the model cannot be loaded (named).
    """
    body = load_sentence_transformer(resolve_model(model), device)
    if max_length is not None:
        body.max_seq_length = max_length
    return body


def body_cache_folder(cfg: FinetuneConfig, texts: Sequence[str], labels: np.ndarray,
                      cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<cache>/bodies/<model>-<sha256[:16]>`` for this base model, training split and settings."""
    model_id = resolve_model(cfg.model).model_id
    key = json.dumps({"model": model_id, "texts": texts_digest(list(texts)),
                      "labels": hashlib.sha256(np.asarray(labels, dtype=np.int64).tobytes()).hexdigest(),
                      "settings": cfg.weight_settings()}, sort_keys=True)
    slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in model_id.split("/")[-1])[:48]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "bodies" / f"{slug}-{cfg.mode}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def save_body(body, folder: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Save ``body`` as a sentence-transformers folder with ``record`` in its marker file.

    Written into a temporary sibling (marker last) and renamed into place, so no reader ever
    sees a half-written model.  An existing finished folder is kept (a concurrent run wrote the
    same key) and returned.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        body.save(str(tmp), create_model_card=False)
        (tmp / _DONE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        if _is_finished(folder):  # a finished folder from a concurrent run: keep it, drop ours
            shutil.rmtree(tmp)
            return folder
        if folder.exists():  # an unfinished leftover (no marker): replace it
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _is_finished(folder: Path) -> bool:
    return (folder / _DONE_FILE).is_file()


def bf16_supported(device: str) -> bool:
    """Whether ``device`` has native bfloat16 arithmetic for :attr:`FinetuneConfig.bf16`."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def _autocast(cfg: FinetuneConfig):
    """``torch.autocast`` in bfloat16 when ``cfg.bf16``, else a no-op context."""
    return torch.autocast(torch.device(cfg.device).type, dtype=torch.bfloat16, enabled=cfg.bf16)


def _adamw(groups, lr: float) -> torch.optim.Optimizer:
    """AdamW with torch's fused kernel (one pass over all tensors: 0.100 -> 0.019 s a step for
    MiniLM's 22.7 M parameters on 2 CPU threads), the same update rule as the loop version."""
    return torch.optim.AdamW(groups, lr=lr, fused=True)


def _linear_warmup(optimizer: torch.optim.Optimizer, total: int, warmup: float):
    """Linear warm-up over ``warmup·total`` steps, then linear decay to 0 (SetFit's schedule)."""
    n_warm = int(warmup * total)

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        return max(0.0, (total - step) / max(1, total - n_warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _tokenize(body, texts: Sequence[str], device: torch.device) -> dict[str, Any]:
    """The body's model inputs for ``texts`` on ``device`` (``preprocess`` in sentence-transformers
    >= 6, ``tokenize`` before); non-tensor entries (e.g. ``modality``) pass through."""
    prep = getattr(body, "preprocess", None) or body.tokenize
    features = prep(list(texts))
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


# --------------------------------------------------------------------------------------------
# SetFit stage


def contrastive_pairs(labels: np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """SetFit pairs ``(i, j, target)`` ``(2·iterations·N, 3)``: per iteration and sentence ``i``,
    one ``j`` of the same label (target 1) and one of another label (target 0), uniformly at
    random (``j ≠ i`` for positives), then shuffled.  Seeded.

    Raises:
        ValueError: fewer than two labels, or a label with a single sentence.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"contrastive pairs need at least two labels, got {classes.tolist()}")
    by_label = {c: np.flatnonzero(labels == c) for c in classes}
    small = [int(c) for c, idx in by_label.items() if len(idx) < 2]
    if small:
        raise ValueError(f"label(s) {small} have a single training sentence: no positive pair can be drawn")
    rng = np.random.default_rng(seed)
    n = len(labels)
    rows = []
    for _ in range(iterations):
        for i in range(n):
            same = by_label[labels[i]]
            j = i
            while j == i:
                j = int(same[rng.integers(len(same))])
            other = np.flatnonzero(labels != labels[i])
            rows.append((i, j, 1))
            rows.append((i, int(other[rng.integers(len(other))]), 0))
    pairs = np.asarray(rows, dtype=np.int64)
    return pairs[rng.permutation(len(pairs))]


def length_grouped(pairs: np.ndarray, lengths: np.ndarray, batch_size: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """``pairs`` (in their shuffled order) cut into batches of similar token length.

    Each window of :data:`LENGTH_GROUP_BATCHES` · ``batch_size`` consecutive pairs is sorted by
    ``max(len(a), len(b))`` (stable) and cut into batches; the batches of all windows are then
    shuffled with ``rng``.  Every pair appears exactly once.
    """
    window = LENGTH_GROUP_BATCHES * batch_size
    batches: list[np.ndarray] = []
    for start in range(0, len(pairs), window):
        chunk = pairs[start: start + window]
        chunk = chunk[np.argsort(np.maximum(lengths[chunk[:, 0]], lengths[chunk[:, 1]]), kind="stable")]
        batches += [chunk[k: k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _token_lengths(body, texts: Sequence[str]) -> np.ndarray:
    """Tokens per sentence after the body's truncation (for :func:`length_grouped`)."""
    tokenizer, limit = body.tokenizer, body.max_seq_length or 1 << 30
    return np.asarray([min(len(ids), limit) for ids in tokenizer(list(texts))["input_ids"]], dtype=np.int64)


@dataclass
class FinetuneResult:
    """A fine-tuned body: its folder, whether it came from the cache, and the training record."""

    folder: Path
    cached: bool
    record: dict[str, Any]


def setfit_body(texts: Sequence[str], labels: np.ndarray, cfg: FinetuneConfig | None = None, *,
                cache_dir: str | os.PathLike[str] | None = None) -> FinetuneResult:
    """Fine-tune the body on ``texts``/``labels`` with the SetFit contrastive stage (cached).

    Returns:
        :class:`FinetuneResult`; ``folder`` is a sentence-transformers model folder.
    """
    cfg = cfg if cfg is not None else FinetuneConfig()
    if cfg.mode != "setfit":
        raise ValueError(f"setfit_body needs FinetuneConfig.mode='setfit', got {cfg.mode!r}")
    texts = list(texts)
    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} sentences but {len(labels)} labels")
    folder = body_cache_folder(cfg, texts, labels, cache_dir)
    if _is_finished(folder):
        logger.info("reusing the fine-tuned body %s", folder)
        return FinetuneResult(folder, True, json.loads((folder / _DONE_FILE).read_text(encoding="utf-8")))
    pairs = contrastive_pairs(labels, cfg.iterations, cfg.seed)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    body = load_body(cfg.model, cfg.device, cfg.max_length)
    try:  # sentence-transformers >= 6 moved the losses; the old path warns there
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    except ImportError:
        from sentence_transformers.losses import CosineSimilarityLoss

    loss_fn = CosineSimilarityLoss(body)
    optimizer = _adamw(body.parameters(), cfg.lr)
    steps_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    scheduler = _linear_warmup(optimizer, cfg.epochs * steps_per_epoch, cfg.warmup)
    order = np.random.default_rng(cfg.seed + 1)
    lengths = _token_lengths(body, texts) if cfg.group_by_length else None
    body.train()
    t0, losses_seen = time.perf_counter(), []
    with tqdm(total=cfg.epochs * steps_per_epoch, desc="setfit", unit="step", disable=not cfg.progress,
              leave=False) as bar, interrupts.deferred():
        for _ in range(cfg.epochs):
            epoch_pairs = pairs[order.permutation(len(pairs))]
            if lengths is not None:
                batches = length_grouped(epoch_pairs, lengths, cfg.batch_size, order)
            else:
                batches = [epoch_pairs[k: k + cfg.batch_size] for k in range(0, len(epoch_pairs), cfg.batch_size)]
            for batch in batches:
                interrupts.check()
                a = _tokenize(body, [texts[i] for i in batch[:, 0]], device)
                b = _tokenize(body, [texts[j] for j in batch[:, 1]], device)
                target = torch.as_tensor(batch[:, 2], dtype=torch.float32, device=device)
                with _autocast(cfg):
                    loss = loss_fn([a, b], target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses_seen.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses_seen[-50:]):.4f}")
    seconds = time.perf_counter() - t0
    record = {"base_model": resolve_model(cfg.model).model_id, "config": cfg.to_dict(), "pairs": int(len(pairs)),
              "steps": len(losses_seen), "seconds": seconds, "final_loss": float(np.mean(losses_seen[-50:])),
              "sentences": len(texts), "texts_sha256": texts_digest(texts)}
    body.eval()
    save_body(body, folder, record)
    logger.info("SetFit stage: %d pairs, %d steps in %.0f s -> %s", len(pairs), len(losses_seen), seconds, folder)
    return FinetuneResult(folder, False, record)


# --------------------------------------------------------------------------------------------
# End to end


class BodyWithHead(nn.Module):
    """``sentences -> logits``: the sentence-transformer body, then ``head`` on its embedding."""

    def __init__(self, body, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        device = next(self.body.parameters()).device
        return self.body(_tokenize(self.body, texts, device))["sentence_embedding"]

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.head(self.embed(texts))


def _evaluate_texts(model: BodyWithHead, texts: Sequence[str], labels: np.ndarray,
                    batch_size: int) -> tuple[float, float, float]:
    """Mean cross-entropy, accuracy and the standard error of the mean cross-entropy
    (``sd(ℓ_i)/sqrt(n)``, sample sd) on ``texts`` in evaluation mode."""
    model.eval()
    losses, correct = [], 0
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            logits = model(texts[start: start + batch_size])
            y = torch.as_tensor(labels[start: start + batch_size], device=logits.device)
            losses.append(nn.functional.cross_entropy(logits, y, reduction="none").double().cpu())
            correct += int((logits.argmax(dim=1) == y).sum())
    per = torch.cat(losses).numpy()
    se = float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else 0.0
    return float(per.mean()), correct / len(texts), se


def select_epoch(epochs: Sequence[dict[str, Any]], rule: str) -> int:
    """Index into ``epochs`` (dicts with ``val_loss``, ``val_accuracy``, ``val_loss_se``) of the
    epoch :attr:`FinetuneConfig.selection` keeps: the lowest ``(loss, -accuracy)`` for
    ``"min_loss"``; for ``"one_se"`` the earliest with ``loss <= L_min + SE_min``."""
    check_choice("select_epoch", "rule", rule, SELECTIONS)
    best = min(range(len(epochs)), key=lambda i: (epochs[i]["val_loss"], -epochs[i]["val_accuracy"]))
    if rule == "min_loss":
        return best
    bound = epochs[best]["val_loss"] + epochs[best]["val_loss_se"]
    return next(i for i, e in enumerate(epochs) if e["val_loss"] <= bound)


def finetune_end_to_end(head: nn.Module, train: tuple[Sequence[str], np.ndarray],
                        validation: tuple[Sequence[str], np.ndarray],
                        cfg: FinetuneConfig | None = None, head_train: Any = None) -> tuple[Any, dict[str, Any]]:
    """Train body and ``head`` together on sentences; keep the epoch ``cfg.selection`` picks.

    The head's pre-training preparation (:meth:`hybrid.head.QuantumHead.prepare`, e.g. a PCA)
    is fitted on the *initial* body's embeddings of the training sentences and then held fixed.
    With ``cfg.warm_start`` the head is then trained alone on those frozen embeddings by
    :func:`hybrid.training.fit` with ``head_train`` (a :class:`~hybrid.training.TrainConfig`;
    selection on the validation sentences) before the body is unfrozen.
    Body and head train under AdamW with their own learning rates (``lr``, ``head_lr``) and the
    linear warm-up schedule (weight decay 0.01 on the body, none on the head).  Both are left
    holding the selected epoch's weights (:func:`select_epoch`; ``one_se`` keeps a copy of every
    epoch's weights in memory until the end, ``min_loss`` only the best so far).  The body belongs
    to the run (with its head), so it is not cached: save it with :func:`save_body`.

    Returns:
        ``(body, history)``: the fine-tuned ``SentenceTransformer`` and a dict with per-epoch
        ``train_loss``, ``val_loss``, ``val_loss_se``, ``val_accuracy``, the ``best_epoch`` kept,
        the ``selection`` rule and ``seconds``.
    """
    cfg = cfg if cfg is not None else FinetuneConfig(mode="full")
    if cfg.mode != "full":
        raise ValueError(f"finetune_end_to_end needs FinetuneConfig.mode='full', got {cfg.mode!r}")
    tr_texts, tr_y = list(train[0]), np.asarray(train[1], dtype=np.int64)
    va_texts, va_y = list(validation[0]), np.asarray(validation[1], dtype=np.int64)
    if len(tr_texts) != len(tr_y) or len(va_texts) != len(va_y):
        raise ValueError("each split needs as many labels as sentences")
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    body = load_body(cfg.model, cfg.device, cfg.max_length)
    head_dtype = next(p for p in head.parameters()).dtype
    model = BodyWithHead(body, head).to(device)
    with torch.no_grad():
        body.eval()
        emb_tr, emb_va = (torch.cat([model.embed(t[s: s + 64]) for s in range(0, len(t), 64)]).to(head_dtype).cpu()
                          for t in (tr_texts, va_texts))
    if hasattr(head, "prepare"):
        head.prepare(emb_tr.numpy())
    history: dict[str, Any] = {"epochs": [], "best_epoch": None}
    if cfg.warm_start:
        from hybrid.training import TrainConfig, fit

        probe = fit(head, emb_tr, tr_y, emb_va, va_y, head_train if head_train is not None else TrainConfig(
            lr=cfg.head_lr, progress=cfg.progress))
        if probe.interrupted:
            raise KeyboardInterrupt
        history["warm_start"] = {"best_epoch": probe.best_epoch, "val_loss": probe.best.val_loss,
                                 "val_accuracy": probe.best.val_accuracy}
        logger.info("warm start: head alone on frozen embeddings, best epoch %d, val accuracy %.4f",
                    probe.best_epoch, probe.best.val_accuracy)
        model.to(device)
    optimizer = _adamw([{"params": body.parameters(), "lr": cfg.lr},
                        {"params": [p for p in head.parameters() if p.requires_grad], "lr": cfg.head_lr,
                         "weight_decay": 0.0}], cfg.lr)
    steps_per_epoch = math.ceil(len(tr_texts) / cfg.batch_size)
    scheduler = _linear_warmup(optimizer, cfg.epochs * steps_per_epoch, cfg.warmup)
    order = np.random.default_rng(cfg.seed + 1)
    kept: dict[int, dict[str, dict[str, torch.Tensor]]] = {}  # epochs that can still be selected

    def snapshot() -> dict[str, dict[str, torch.Tensor]]:
        return {"body": {k: v.detach().clone() for k, v in body.state_dict().items()},
                "head": {k: v.detach().clone() for k, v in head.state_dict().items()}}

    def record(epoch: int, train_loss: float | None) -> None:
        """Evaluate, append to the history, keep a snapshot while the epoch can still be selected."""
        val_loss, val_acc, val_se = _evaluate_texts(model, va_texts, va_y, 64)
        history["epochs"].append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                  "val_accuracy": val_acc, "val_loss_se": val_se})
        kept[epoch] = snapshot()
        if cfg.selection == "min_loss":  # only the best so far can still win; one_se keeps every epoch
            best = history["epochs"][select_epoch(history["epochs"], "min_loss")]["epoch"]
            for e in [e for e in kept if e != best]:
                del kept[e]
        logger.info("end-to-end epoch %d: val loss %.4f ± %.4f, val accuracy %.4f", epoch, val_loss, val_se, val_acc)

    if cfg.warm_start:  # epoch 0, the probed head on the untouched body, competes in the selection
        record(0, None)
    t0 = time.perf_counter()
    with tqdm(total=cfg.epochs * steps_per_epoch, desc="fine-tune", unit="step", disable=not cfg.progress,
              leave=False) as bar, interrupts.deferred():
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            perm = order.permutation(len(tr_texts))
            loss_sum = 0.0
            for start in range(0, len(perm), cfg.batch_size):
                interrupts.check()  # a SIGINT/SIGTERM under `qhybrid train` stops here, between steps
                idx = perm[start: start + cfg.batch_size]
                with _autocast(cfg):
                    emb = model.embed([tr_texts[i] for i in idx])
                logits = model.head(emb.to(head_dtype))
                loss = nn.functional.cross_entropy(logits, torch.as_tensor(tr_y[idx], device=logits.device))
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"fine-tuning loss is {float(loss)} at epoch {epoch}; lower lr/head_lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += float(loss.detach()) * len(idx)
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
            record(epoch, loss_sum / len(tr_texts))
    chosen = history["epochs"][select_epoch(history["epochs"], cfg.selection)]["epoch"]
    history["best_epoch"], history["selection"] = chosen, cfg.selection
    body.load_state_dict(kept[chosen]["body"])
    head.load_state_dict(kept[chosen]["head"])
    body.eval()
    head.eval()
    history["seconds"] = time.perf_counter() - t0
    return body, history
