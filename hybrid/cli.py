"""``qhybrid``: train and evaluate heads on SST-2; ``bench`` and ``energy`` sub-commands.

Sub-commands:

* ``qhybrid train``: train the quantum head (``--head PRESET``, flags, or ``--config FILE``) or
  a classical baseline (``--baseline NAME``) into a run folder (``config.json``,
  ``metrics.json``, checkpoint) and print the test accuracy next to logistic regression.
* ``qhybrid evaluate RUN``: accuracy of a run folder's model on a split.
* ``qhybrid bench ...`` / ``qhybrid energy ...``: the commands of :mod:`bench.cli` /
  :mod:`energy.cli`.

Sub-commands are found, not imported: every package names its own in the entry-point group
:data:`COMMAND_GROUP` of its ``pyproject.toml`` (``train = "hybrid.cli:TRAIN"``, ``bench =
"bench.cli:COMMAND"``, ...); each is an object with ``help``, ``add_arguments(parser)`` and
``run(args) -> int`` (:class:`Command`).  :func:`main` loads only the command it runs (all of them
for ``--help``), so this module imports nothing of ``bench`` or ``energy``.

Data: ``--data DIR`` (or ``$QHYBRID_DATA``; without either SST-2 is downloaded from the hub) and
``--embeddings FILE.npz`` (or ``$QHYBRID_EMBEDDINGS``; without either the sentences are encoded
with the bundled MiniLM, cached on disk).  Bad input prints one line naming it and exits 2.

Run folders: ``--out`` is checked before any work (its location must be creatable and writable); an
existing run is refused unless ``--overwrite`` (replaced as a whole at the end) or ``--resume``
(an interrupted run continues from its last finished epoch; a finished one is read back).  Ctrl-C
and SIGTERM stop training cleanly: after at least one finished epoch the best-so-far model is
written with ``"status": "interrupted"``; the exit status is 130 (SIGINT) or 143 (SIGTERM).

Example::

    qhybrid train --data ../shared/data/sst2 \\
                  --embeddings ../shared/data/embeddings/sst2-all-MiniLM-L6-v2.npz
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol

__all__ = ["main", "build_parser", "Command", "COMMAND_GROUP", "TRAIN", "EVALUATE", "EXIT_OK", "EXIT_USAGE",
           "EXIT_DATA", "EXIT_SIGINT", "EXIT_SIGTERM"]

EXIT_OK, EXIT_USAGE, EXIT_DATA = 0, 2, 3
#: Exit status after Ctrl-C / SIGTERM (128 + the signal number, as a shell reports it).
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
#: Entry-point group in which packages declare their ``qhybrid`` sub-commands.
COMMAND_GROUP = "qhybrid.commands"
DEFAULT_RUNS = "runs"

logger = logging.getLogger("qhybrid")


class Command(Protocol):
    """A ``qhybrid`` sub-command, as an entry point of :data:`COMMAND_GROUP` provides it."""

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's options to its sub-parser."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the command for parsed ``args``; return the exit status."""


# --------------------------------------------------------------------------------------------
# Parser


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="DIR",
                   help="SST-2 folder with train.tsv, dev.tsv, test.tsv (default: $QHYBRID_DATA, else the hub)")
    g.add_argument("--embeddings", metavar="FILE",
                   help="precomputed embeddings .npz or folder (default: $QHYBRID_EMBEDDINGS, else encode)")
    g.add_argument("--embedding-model", metavar="MODEL",
                   help="sentence-transformer for encoding: a folder or hub id (default: bundled all-MiniLM-L6-v2)")


def _add_train_arguments(t: argparse.ArgumentParser) -> None:
    """The ``train`` options."""
    from hybrid.head import LINEAR_INPUTS, MERGES, PRESETS

    t.description = "Train on SST-2 embeddings; writes config.json, metrics.json and a checkpoint."
    _add_data_args(t)
    g = t.add_argument_group("split")
    g.add_argument("--split", choices=("paper", "standard"), help="paper: 435/77/9,101 seeded (default)")
    g.add_argument("--split-seed", type=int, metavar="N", help="seed of the paper split (default 0)")
    g.add_argument("--max-test", type=int, metavar="N", help="score only the first N test sentences")
    g = t.add_argument_group("model")
    g.add_argument("--config", metavar="FILE", help="a RunConfig JSON file (flags override its values)")
    g.add_argument("--baseline", metavar="NAME",
                   help="train a classical baseline instead: logreg, svc, svc-c100, mlp-<h>, mlp-matched")
    g.add_argument("--head", choices=sorted(PRESETS), help="quantum head preset (default: default)")
    g.add_argument("--encoders", type=int, metavar="E", help="number of amplitude encoders")
    g.add_argument("--qubits", type=int, metavar="Q", help="qubits per encoder")
    g.add_argument("--encoder-layers", type=int, metavar="M", help="long-range layers per encoder")
    g.add_argument("--connectivity", type=int, metavar="C", help="connectivity of every PQC")
    g.add_argument("--merge", choices=MERGES, help="how encoder outputs are merged")
    g.add_argument("--bias", type=float, metavar="B",
                   help="constant in the first padding amplitude (0: the paper's plain amplitude encoding)")
    g.add_argument("--reuploads", type=int, metavar="N", help="data re-uploading blocks of the QPU module")
    g.add_argument("--qpu-layers", type=int, metavar="R", help="layers of the final QPU PQC")
    g.add_argument("--shared", action=argparse.BooleanOptionalAction, default=None,
                   help="share PQC1 weights across re-uploading blocks")
    g.add_argument("--measured", type=int, metavar="QM", help="measured QPU qubits")
    g.add_argument("--linear-input", choices=LINEAR_INPUTS, help="linear layer on the QPU output or on [encoders, QPU]")
    g.add_argument("--ensemble", type=int, metavar="K", help="K heads (own initialisations), logits averaged")
    g.add_argument("--components", type=int, metavar="K",
                   help="coordinates kept by the head's PCA / whitening (default head: 31; 15 pads a 5-qubit register)")
    g.add_argument("--shots", type=int, metavar="S", help="QPU shots per evaluation (default: exact)")
    g.add_argument("--gradient", choices=("adjoint", "param_shift"), help="QPU gradient method")
    g.add_argument("--noise", metavar="JSON", help="QPU noise model spec for qsim.noise (JSON or preset name)")
    g.add_argument("--dtype", choices=("float32", "float64"), help="simulation precision")
    g = t.add_argument_group("training")
    g.add_argument("--epochs", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--optimizer", choices=("adam", "adamw"))
    g.add_argument("--scheduler", choices=("none", "exponential", "cosine"))
    g.add_argument("--patience", type=int, help="early stopping after N epochs without improvement")
    g.add_argument("--seed", type=int, help="seed of initialisation and mini-batch order")
    g = t.add_argument_group("fine-tuning the sentence-transformer body (sentences are re-encoded; no --embeddings)")
    g.add_argument("--finetune", choices=("setfit", "full"),
                   help="setfit: contrastive stage on the training split, then the head on the fine-tuned "
                        "embeddings; full: body and quantum head trained end to end")
    g.add_argument("--body", metavar="MODEL",
                   help="body to fine-tune: a sentence-transformers folder or hub id (default: bundled MiniLM)")
    g.add_argument("--ft-iterations", type=int, metavar="N", help="SetFit pair iterations (default 20)")
    g.add_argument("--ft-epochs", type=int, metavar="N", help="fine-tuning epochs (default 1)")
    g.add_argument("--ft-batch-size", type=int, metavar="N", help="pairs / sentences per step (default 16)")
    g.add_argument("--body-lr", type=float, metavar="LR", help="body learning rate (default 2e-5)")
    g.add_argument("--setfit-lr", type=float, metavar="LR",
                   help="with --finetune full --setfit-first: the SetFit stage's learning rate (default 2e-5)")
    g.add_argument("--head-lr", type=float, metavar="LR", help="quantum head learning rate with --finetune full")
    g.add_argument("--device", metavar="DEV", help="torch device for fine-tuning (cpu, cuda)")
    g.add_argument("--ft-selection", choices=("one_se", "min_loss"),
                   help="with --finetune full: the epoch kept: earliest within one standard error of the lowest "
                        "validation loss (default) or the lowest")
    g.add_argument("--bf16", action="store_true", default=None,
                   help="fine-tune under bfloat16 autocast (CPUs with AVX512-BF16/AMX, CUDA; about 1.4x faster)")
    g.add_argument("--setfit-first", action="store_true", default=None,
                   help="with --finetune full: start from the (cached) SetFit body instead of the base model")
    g = t.add_argument_group("model selection and seeds")
    g.add_argument("--select", choices=("loss", "accuracy"),
                   help="keep the epoch with the lowest validation loss (default) or highest accuracy")
    g.add_argument("--folds", type=int, metavar="K",
                   help="K-fold cross-validation over the pooled train+validation sentences picks the epoch "
                        "count, then the head is refit on all of them")
    g.add_argument("--fold-final", choices=("refit", "committee"),
                   help="with --folds: refit one head on all pooled sentences (default) or keep the K fold heads, "
                        "each stopped on its own held-out fold, as one committee averaging their logits")
    g.add_argument("--split-seeds", metavar="LIST",
                   help="train on several paper splits, e.g. 0-4 or 0,2,5: every model on the same splits, "
                        "mean ± std and the paired difference to logistic regression")
    g.add_argument("--compare", metavar="NAMES",
                   help="with --split-seeds: baselines trained beside the model (default: logreg; e.g. "
                        "logreg,svc,mlp-0,mlp-matched)")
    g = t.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help=f"run folder (default: {DEFAULT_RUNS}/<time>-<model>); an existing "
                                               "run is refused unless --overwrite or --resume")
    again = g.add_mutually_exclusive_group()
    again.add_argument("--overwrite", action="store_true",
                       help="replace an existing run folder (as a whole, when the new run is written)")
    again.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out from its last finished epoch (a finished "
                            "run is read back)")
    g.add_argument("--no-reference", action="store_true", help="skip the logistic-regression reference")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--json", action="store_true", help="print the metrics as JSON")


def _add_evaluate_arguments(e: argparse.ArgumentParser) -> None:
    """The ``evaluate`` options."""
    e.add_argument("run", metavar="RUN", help="a run folder written by qhybrid train")
    e.add_argument("--split", choices=("train", "validation", "test"), default="test")
    _add_data_args(e)
    e.add_argument("--json", action="store_true", help="print the result as JSON")


def _global_parser(**kwargs: Any) -> argparse.ArgumentParser:
    """The options that come before the sub-command."""
    parser = argparse.ArgumentParser(prog="qhybrid", description=__doc__.split("\n\n")[0], **kwargs)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("--threads", type=int, metavar="N", dest="host_threads",
                        help="CPU threads for torch and the qsim kernels (default: all; 1 is faster for small "
                             "heads on a busy machine)")
    return parser


def build_parser(commands: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    """The ``qhybrid`` argument parser: the global options and one sub-parser per command
    (default: every command of :data:`COMMAND_GROUP`, loaded)."""
    if commands is None:
        commands = {ep.name: ep.load() for ep in _entry_points().values()}
    parser = _global_parser()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, command in commands.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


# --------------------------------------------------------------------------------------------
# Config from flags


#: ``train`` flag -> dotted path in :class:`~hybrid.head.HeadConfig`.
HEAD_FLAGS = {
    "encoders": ("n_encoders",), "merge": ("merge",), "linear_input": ("linear_input",), "dtype": ("dtype",),
    "ensemble": ("ensemble",), "components": ("components",),
    "qubits": ("encoder.n_qubits",), "encoder_layers": ("encoder.layers",), "bias": ("encoder.bias",),
    "connectivity": ("encoder.connectivity", "qpu.connectivity"),
    "reuploads": ("qpu.reuploads",), "qpu_layers": ("qpu.layers",), "shared": ("qpu.shared",),
    "measured": ("qpu.measured",), "shots": ("qpu.shots",), "gradient": ("qpu.gradient",),
}
#: ``train`` flag -> :class:`~hybrid.experiment.DataConfig` field.
DATA_FLAGS = {"data": "data", "embeddings": "embeddings", "embedding_model": "embedding_model",
              "split": "split", "split_seed": "seed", "max_test": "max_test"}
TRAIN_FLAGS = ("epochs", "lr", "batch_size", "weight_decay", "optimizer", "scheduler", "patience", "seed", "select")
#: ``train`` flag -> :class:`~hybrid.finetune.FinetuneConfig` field.
FINETUNE_FLAGS = {"finetune": "mode", "body": "model", "ft_iterations": "iterations", "ft_epochs": "epochs",
                  "ft_batch_size": "batch_size", "body_lr": "lr", "head_lr": "head_lr", "device": "device",
                  "setfit_first": "setfit_first", "setfit_lr": "setfit_lr", "bf16": "bf16",
                  "ft_selection": "selection"}


def _read_config_file(path_text: str) -> dict[str, Any]:
    from hybrid.config import read_json_object

    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"--config file not found: {path}")
    return read_json_object(path, f"--config {path}")


def run_config_from_args(args: argparse.Namespace):
    """The :class:`~hybrid.experiment.RunConfig` asked for by ``--config`` and the flags (flags win).

    Head flags become :attr:`~hybrid.experiment.RunConfig.head_overrides` (dotted
    :class:`~hybrid.head.HeadConfig` paths -> values), which the run applies once the embedding size
    is known (the preset head depends on it).
    """
    from hybrid.experiment import QUANTUM_TRAIN_DEFAULT, RunConfig

    base = _read_config_file(args.config) if args.config else {}
    if args.baseline:
        base["model"] = args.baseline
    if args.head:
        base["preset"], base["head"] = args.head, None
    data = dict(base.get("data") or {})
    data.update({key: getattr(args, flag) for flag, key in DATA_FLAGS.items() if getattr(args, flag) is not None})
    base["data"] = data
    train_changes = {f: getattr(args, f) for f in TRAIN_FLAGS if getattr(args, f) is not None}
    if args.no_progress:
        train_changes["progress"] = False
    if train_changes:
        from hybrid.baselines import MLP_DEFAULT_CONFIG

        default = MLP_DEFAULT_CONFIG if str(base.get("model", "")).startswith("mlp") else QUANTUM_TRAIN_DEFAULT
        base["train"] = {**(base.get("train") or default.to_dict()), **train_changes}
    if args.no_reference:
        base["reference"] = False
    if args.folds is not None:
        base["folds"] = args.folds
    if args.fold_final is not None:
        base["fold_final"] = args.fold_final
    ft_changes = {key: getattr(args, flag) for flag, key in FINETUNE_FLAGS.items() if getattr(args, flag) is not None}
    if ft_changes:
        if "mode" not in ft_changes and not base.get("finetune"):
            raise ValueError(f"fine-tuning options {sorted(ft_changes)} need --finetune setfit|full")
        if args.no_progress:
            ft_changes["progress"] = False
        base["finetune"] = {**(base.get("finetune") or {}), **ft_changes}
    head_changes = {path: getattr(args, flag) for flag, paths in HEAD_FLAGS.items()
                    for path in paths if getattr(args, flag) is not None}
    if args.noise is not None:
        head_changes["qpu.noise"] = _parse_noise(args.noise)
    cfg = RunConfig.from_dict(base)
    if not head_changes:
        return cfg
    if not cfg.is_quantum:  # the flags describe the quantum head being trained
        raise ValueError(f"quantum-head options {sorted(head_changes)} do not apply to the baseline {cfg.model!r}")
    return dataclasses.replace(cfg, head_overrides={**(cfg.head_overrides or {}), **head_changes})


def _parse_noise(text: str) -> Any:
    """``--noise`` as a JSON value (a mapping spec) or, when not JSON, a preset name."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# --------------------------------------------------------------------------------------------
# Commands


def _default_out(model: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(DEFAULT_RUNS) / f"{stamp}-{model}"


def cmd_train(args: argparse.Namespace) -> int:
    """``qhybrid train``: train one run (or one per split seed) into ``--out`` and print its metrics."""
    from hybrid.experiment import RunInterrupted, prepare_data, train_run
    from hybrid.runfolder import STATUS_FINISHED, check_out_dir, read_status

    cfg = run_config_from_args(args)
    if args.compare and not args.split_seeds:
        raise ValueError("--compare needs --split-seeds (the baselines are compared over several splits)")
    seeds = None
    if args.split_seeds:
        from hybrid.compare import parse_seeds

        seeds = parse_seeds(args.split_seeds)
        if args.overwrite or args.resume:
            raise ValueError("--overwrite and --resume apply to one run; --split-seeds reads finished runs in --out "
                             "back by itself (delete a run folder to train it again)")
    out = Path(args.out) if args.out else _default_out(f"{cfg.model}-seeds" if seeds is not None else cfg.model)
    # before any data is loaded or anything trained: the output location and an existing run
    check_out_dir(out, overwrite=args.overwrite, resume=args.resume, run_folder=seeds is None)
    if cfg.data.resolved().data is None:
        print("no --data folder and no $QHYBRID_DATA: downloading SST-2 (SetFit/sst2) from the Hugging Face hub "
              "(offline? pass --data /path/to/sst2)", file=sys.stderr)
    if seeds is not None:
        return _train_over_seeds(args, cfg, seeds, out)
    if args.resume and read_status(out) == STATUS_FINISHED:
        print(f"{out} is a finished run (--resume): reading it back", file=sys.stderr)
        result = train_run(cfg, out, resume=True)
        return _print_run(args, cfg, result.metrics, out)
    ds = prepare_data(cfg.data, cfg.finetune)
    if cfg.is_quantum:
        h = cfg.head_for(ds.dim)
        info = h.describe()
        pre = "" if h.preprocess == "none" else f"{h.preprocess} {ds.dim} -> {h.components}, "
        print(f"quantum head: {pre}{h.n_encoders} encoder(s) x {info['encoder_qubits']} qubits ({info['resize']} "
              f"{info['encoder_input_dim']} -> {2 ** info['encoder_qubits']}), QPU {info['qpu_qubits']} qubits, "
              f"{info['parameters']['total']} parameters", file=sys.stderr)
    print(f"data: {ds.info['source']} ({ds.info['protocol']} split: "
          + ", ".join(f"{k} {v}" for k, v in ds.info["splits"].items()) + f"), embeddings d={ds.dim}", file=sys.stderr)
    try:
        result = train_run(cfg, out, dataset=ds, overwrite=args.overwrite, resume=args.resume)
    except RunInterrupted as exc:
        if exc.result is not None:
            _print_run(args, cfg, exc.result.metrics, out)
        raise
    return _print_run(args, cfg, result.metrics, out)


def _print_run(args: argparse.Namespace, cfg, m: dict[str, Any], out: Path) -> int:
    """Print a run's metrics (a table, or JSON with ``--json``)."""
    if args.json:
        print(json.dumps(m, indent=2, default=str))
        return EXIT_OK
    name = "quantum head" if cfg.is_quantum else cfg.model
    rows = [(name, m["parameters"], m["validation"]["accuracy"], m["test"]["accuracy"])]
    ref = (m.get("reference") or {}).get("logreg")
    if ref:
        rows.append(("logistic regression", ref["parameters"], ref["validation_accuracy"], ref["test_accuracy"]))
    print(f"{'model':<22}{'params':>8}{'val acc':>10}{'test acc':>10}")
    for r in rows:
        print(f"{r[0]:<22}{r[1]:>8}{r[2]:>10.4f}{r[3]:>10.4f}")
    status = "" if m.get("status", "finished") == "finished" else f" ({m['status']})"
    print(f"test sentences: {m['test']['n']}; trained in {m['train_seconds']:.1f} s; run folder: {out}{status}")
    return EXIT_OK


def _train_over_seeds(args: argparse.Namespace, cfg, seeds: list[int], out: Path) -> int:
    """``train --split-seeds``: every model on every split; print mean ± std and paired differences."""
    from hybrid.compare import compare_over_seeds

    baselines = tuple(b.strip() for b in (args.compare or "logreg").split(",") if b.strip())
    summary = compare_over_seeds(cfg, seeds, out, baselines)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    print(f"split seeds {','.join(map(str, seeds))}; test accuracy over seeds (mean ± std); "
          "paired difference to logistic regression on the same splits")
    print(f"{'model':<24}{'params':>9}{'test acc':>18}{'- logreg':>18}{'p (paired t)':>14}")
    for name, row in summary["models"].items():
        vs = row.get("vs_logreg")
        diff = f"{100 * vs['mean']:+.2f} ± {100 * vs['std']:.2f}" if vs else ""
        p = "" if not vs or vs["p_paired_t"] is None else f"{vs['p_paired_t']:.3g}"
        print(f"{name:<24}{row['parameters']:>9}{100 * row['mean']:>11.2f} ± {100 * row['std']:.2f}{diff:>18}{p:>14}")
    print(f"runs and summary.json in {out}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``qhybrid evaluate``: the accuracy of a run folder's model on a split."""
    from hybrid.experiment import evaluate_run

    res = evaluate_run(args.run, args.split, data=args.data, embeddings=args.embeddings)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        extra = f", loss {res['loss']:.4f}" if "loss" in res else ""
        print(f"{args.run}: {res['split']} accuracy {res['accuracy']:.4f} on {res['n']} sentences{extra}")
    return EXIT_OK


def _set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in qsim's kernels."""
    if n < 1:
        raise ValueError("must be >= 1")
    import torch

    from qsim import set_num_threads

    set_num_threads(n)  # raises (naming NUMBA_NUM_THREADS) above the threads there are
    torch.set_num_threads(n)


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity < 2:
        logging.getLogger("numba").setLevel(logging.WARNING)


def _run_guarded(name: str, work: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``train``/``evaluate`` under :class:`~hybrid.interrupts.StopSignals`; bad input is one line on
    stderr and exit status 2 (usage) or 3 (data), an interrupt 130 (SIGINT) or 143 (SIGTERM)."""
    from hybrid.config import one_line
    from hybrid.data import DataFormatError, DataUnavailableError
    from hybrid.embeddings import EmbeddingError
    from hybrid.experiment import RunInterrupted
    from hybrid.interrupts import StopSignals, is_interrupt

    stop = StopSignals()
    where = "; no run folder written" if name == "train" else ""
    try:
        with stop:
            rc = work(args)
        if stop.received is not None:  # a stop request that came when the work was already done
            print(f"qhybrid {name}: stopped by {signal.Signals(stop.received).name} after the work was "
                  "complete", file=sys.stderr)
            return stop.exit_code
        return rc
    except (DataUnavailableError, DataFormatError, EmbeddingError, FileNotFoundError) as exc:
        print(f"qhybrid {name}: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATA
    except (ValueError, FloatingPointError) as exc:  # FloatingPointError: training diverged (the lr is named)
        print(f"qhybrid {name}: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # unreadable files, permissions, a full disk while reading caches
        print(f"qhybrid {name}: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATA
    except RunInterrupted as exc:
        print(f"qhybrid {name}: {exc}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print(f"qhybrid {name}: interrupted{where}", file=sys.stderr)
        return stop.exit_code
    except SystemError as exc:  # an interrupt that landed inside a native (Numba) call
        if not is_interrupt(exc):
            raise
        print(f"qhybrid {name}: interrupted{where}", file=sys.stderr)
        return stop.exit_code


@dataclass(frozen=True)
class _HybridCommand:
    """``train`` / ``evaluate``: a :class:`Command` whose work runs under :func:`_run_guarded`."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    work: Callable[[argparse.Namespace], int]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        self.arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return _run_guarded(self.name, self.work, args)


TRAIN = _HybridCommand("train", "train a quantum head or a baseline into a run folder", _add_train_arguments,
                       cmd_train)
EVALUATE = _HybridCommand("evaluate", "accuracy of a run folder's model on a split", _add_evaluate_arguments,
                          cmd_evaluate)


def _entry_points() -> dict[str, EntryPoint]:
    """The sub-commands installed in :data:`COMMAND_GROUP`, by name (not loaded)."""
    return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qhybrid`` console script; returns the exit status.

    Only the command named in ``argv`` is loaded (every one for ``--help`` or when none is named),
    then :func:`build_parser` reads the options.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    found = _entry_points()
    if not found:
        print(f"qhybrid: no sub-commands are registered in the {COMMAND_GROUP!r} entry-point group: install "
              "the package (pip install -e . in the checkout) so its pyproject.toml declares them", file=sys.stderr)
        return EXIT_USAGE
    # the first command name is the command (global option values are numbers); help before it lists all
    at = next((i for i, a in enumerate(argv) if a in found), None)
    chosen = None if at is None or {"-h", "--help"} & set(argv[:at]) else argv[at]
    commands = {name: ep.load() for name, ep in found.items() if chosen in (None, name)}
    args = build_parser(commands).parse_args(argv)
    _setup_logging(args.verbose)
    if args.host_threads is not None:
        try:
            _set_threads(args.host_threads)
        except ValueError as exc:
            print(f"qhybrid: --threads {args.host_threads}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return int(commands[args.command].run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
