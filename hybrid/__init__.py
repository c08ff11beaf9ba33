"""qhybrid's hybrid quantum-classical heads on sentence embeddings, and fine-tuning of the body.

Importing :mod:`hybrid` does not import torch: every public name is resolved on first access
(module ``__getattr__``), so ``import hybrid`` stays cheap for tools that only need the data
or CLI plumbing.

Public API (module in brackets):

* torch entry point [function]: ``circuit_expval``, ``CircuitExpval``, ``Execution``
* modules [layers, head]: ``QuantumLayer``, ``AmplitudeEncoder``, ``QPUModule``, ``QuantumHead``
  and their configs ``EncoderConfig``, ``QPUConfig``, ``HeadConfig``; ``preset``,
  ``search_parameter_count``
* runs [experiment]: ``RunConfig``, ``DataConfig``, ``train_run``, ``evaluate_run``, ``prepare_data``
* data [data, embeddings]: ``load_sst2``, ``paper_splits``, ``make_splits``, ``embed_corpus``,
  ``load_precomputed``, ``SentenceEncoder``
* training [config, training, checkpoints, seeding]: ``TrainConfig``, ``fit``, ``evaluate``,
  ``save_checkpoint``, ``load_checkpoint``, ``seed_everything``
* baselines [baselines]: ``make_baseline``, ``MLPHead``
* fine-tuning the body [finetune]: ``FinetuneConfig``, ``setfit_body``, ``finetune_end_to_end``,
  ``load_body``; several split seeds [compare]: ``compare_over_seeds``; preprocessing
  [preprocess]: ``Projection``

Example::

    import hybrid
    cfg = hybrid.preset("default", input_dim=384)
    head = hybrid.QuantumHead(cfg).prepare(X_train)   # 178 trainable parameters; fits the PCA
    logits = head(embeddings)                 # (B, 2), gradients by qsim's adjoint VJP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> submodule that defines it.
_EXPORTS: dict[str, str] = {
    "circuit_expval": "function", "CircuitExpval": "function", "Execution": "function",
    "QuantumLayer": "layers", "AmplitudeEncoder": "layers", "QPUModule": "layers",
    "EncoderConfig": "layers", "QPUConfig": "layers", "amplitude_state": "layers",
    "QuantumHead": "head", "HeadConfig": "head", "preset": "head", "PRESETS": "head",
    "search_parameter_count": "head",
    "RunConfig": "experiment", "DataConfig": "experiment", "train_run": "experiment",
    "evaluate_run": "experiment", "prepare_data": "experiment", "load_run_model": "experiment",
    "load_sst2": "data", "paper_splits": "data", "make_splits": "data", "standard_splits": "data",
    "embed_corpus": "embeddings", "load_precomputed": "embeddings", "SentenceEncoder": "embeddings",
    "gather": "embeddings",
    "TrainConfig": "config", "fit": "training", "evaluate": "training", "predict": "training",
    "save_checkpoint": "checkpoints", "load_checkpoint": "checkpoints",
    "seed_everything": "seeding",
    "make_baseline": "baselines", "MLPHead": "baselines",
    "FinetuneConfig": "finetune", "setfit_body": "finetune", "finetune_end_to_end": "finetune",
    "load_body": "finetune",
    "compare_over_seeds": "compare", "Projection": "preprocess",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hybrid' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - static analysers see the real names
    from .baselines import MLPHead, make_baseline
    from .checkpoints import load_checkpoint, save_checkpoint
    from .compare import compare_over_seeds
    from .config import TrainConfig
    from .data import load_sst2, make_splits, paper_splits, standard_splits
    from .embeddings import SentenceEncoder, embed_corpus, gather, load_precomputed
    from .finetune import FinetuneConfig, finetune_end_to_end, load_body, setfit_body
    from .experiment import DataConfig, RunConfig, evaluate_run, load_run_model, prepare_data, train_run
    from .function import CircuitExpval, Execution, circuit_expval
    from .head import PRESETS, HeadConfig, QuantumHead, preset, search_parameter_count
    from .layers import AmplitudeEncoder, EncoderConfig, QPUConfig, QPUModule, QuantumLayer, amplitude_state
    from .preprocess import Projection
    from .seeding import seed_everything
    from .training import evaluate, fit, predict
