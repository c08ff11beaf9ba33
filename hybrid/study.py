"""Studies: a declared experiment (paper.md sections 4-6) run as many run folders, resumably and in parallel.

A study config is a TOML or JSON file, read as data (no pickle, nothing executed)::

    name = "screen-minilm"
    seeds = "0-2"                          # split seeds: "0-4", "0,2,5" or a list
    design = "full"                        # or "fractional": two-level factors, with generators
    generators = ["C=AB"]                  # factor letters A, B, C, ... in [[factors]] order
    baselines = ["logreg", "svc", "mlp-0", "mlp-matched"]   # on the same splits (logreg always)
    ablations = ["no-qpu", "no-encoders", "no-reupload", "connectivity-1"]
    ablate = "base"                        # ablate the base head, or "best" (chosen on validation loss)

    [data]                                 # hybrid.experiment.DataConfig (split "paper"; seed per run)
    data = "/work/shared/data/sst2"
    embeddings = "/work/shared/data/embeddings/sst2-all-MiniLM-L6-v2.npz"

    [base]                                 # RunConfig fields of every quantum run
    preset = "default"
    train = { epochs = 60, patience = 15, lr = 0.01 }

    [arms]                                 # named arms: factor name -> value, used as levels of "arm"
    shallow = { encoder_layers = 1, reuploads = 1 }

    [[factors]]
    name = "qubits"
    levels = [4, 5]

    [robustness]                           # the chosen head evaluated with shots and noisy gates
    shots = [100, 1000, 10000]
    noise = ["ionq-aria-like", "ionq-forte-like", { p1 = 1e-4, p2 = 1e-3 }]
    on = "best"                            # or "base"

Factor names (:data:`FACTOR_NAMES`): the head flags of ``qhybrid train`` (``encoders`` E,
``qubits`` Q, ``encoder_layers`` M, ``connectivity`` C, ``reuploads`` N, ``qpu_layers`` R, ``shots``,
... :data:`hybrid.cli.HEAD_FLAGS`), ``noise``, any dotted :class:`~hybrid.head.HeadConfig` path
(``encoder.bias``), the training fields (``lr``, ``weight_decay``, ... or ``train.<field>``),
``preset``, ``body`` (``frozen``, ``setfit``, ``full`` or a :class:`~hybrid.finetune.FinetuneConfig`
mapping), ``embeddings`` (a precomputed file: another frozen body) and ``arm`` (names of
``[arms]`` or of the built-in ablations).  ``qubits`` on a head with a projection (the default
head) also sets ``components = min(d, 2**Q - 1)`` (one amplitude for the bias; ``2**Q`` without
one), so that the encoder stays filled.

Ablations (:data:`ABLATIONS`, paper.md section 5), each a head configuration:

* ``no-qpu``: ``linear_input = "encoders_only"`` (the QPU module is not built; logits = Linear(z));
* ``no-encoders``: ``n_encoders = 0``: the QPU module angle-encodes a PCA of the embedding with
  as many components as it has qubits (standardised inputs);
* ``no-reupload``: ``qpu.reuploads = 1``;
* ``connectivity-1``: ``encoder.connectivity = qpu.connectivity = 1`` (nearest neighbours only).

Designs (:func:`full_factorial`, :func:`fractional_factorial`): every combination of levels, or
a regular two-level fraction ``2^(k-p)`` given by ``p`` generators such as ``D=ABC`` (the first
``k-p`` factors form a full factorial; a generated column is the product of its base columns,
``-`` flips it).  The defining relation, the resolution (length of its shortest word; at least
III, so no main effect is aliased with another) and each main effect's aliases are part of the
design and of the report.

Folders (``--out DIR``)::

    DIR/study.json          the design, every cell and run group (atomic)
    DIR/spec.json           the config as read (rerun: qhybrid study DIR/spec.json --out DIR)
    DIR/configs/<group>.json  a RunConfig per run group: `qhybrid train --config ... --split-seeds ...`
    DIR/runs/<group>/seed-<s>/  one hybrid.experiment.train_run folder per run
    DIR/selection.json      the best cell by validation loss and the second-phase groups
    DIR/robust/<arm>/seed-<s>.json  accuracy of the chosen head under shots / noise
    DIR/index.json          every run's status and scores (rewritten atomically as runs finish)

The base head (``[base]`` without any factor) is run as group ``base`` when the ablations or the
robustness arms are on ``base``, unless a cell trains the same head (then that cell is the
reference).  :func:`analyse_study` computes every number of the report from the run folders
(:mod:`hybrid.analysis` has the statistics).

Runs go in two phases: the design cells, the baselines and (on ``base``) the ablations; then,
once every cell is finished and the best one is chosen on validation loss, the
parameter-matched MLP, the ablations on ``best`` and the shots / noise evaluations.  Finished
runs are read back, not retrained; an interrupted run is resumed (:func:`~hybrid.experiment.train_run`
with ``resume=True``), so running the same command again continues a study.  The design part of
the config (data, base, factors, design, generators, arms) must not change between two calls on
the same folder; seeds, baselines, ablations and robustness may grow.

Runs execute in a pool of ``jobs`` worker processes (spawned; torch and Numba with one thread
each), or in this process with ``jobs = 1``.  Ctrl-C stops the study: finished run folders stay
intact (each is renamed into place whole), the index is written, and the next call continues.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import itertools
import json
import logging
import multiprocessing
import os
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qsim.atomic import atomic_write_json

from hybrid.cli import EXIT_OK, EXIT_SIGINT, EXIT_USAGE, HEAD_FLAGS, TRAIN_FLAGS
from hybrid.config import one_line, read_json_object

__all__ = [
    "ABLATIONS",
    "COMMAND",
    "FACTOR_NAMES",
    "Design",
    "Factor",
    "Study",
    "StudySpec",
    "fractional_factorial",
    "analyse_study",
    "evaluate_under",
    "full_factorial",
    "load_study",
    "plan_study",
    "read_spec",
    "run_study",
]

logger = logging.getLogger(__name__)

STUDY_FILE, INDEX_FILE, SELECTION_FILE = "study.json", "index.json", "selection.json"
#: The config as read, as JSON: ``qhybrid study DIR/spec.json --out DIR`` reruns (continues) the study.
SPEC_FILE = "spec.json"
RUNS, CONFIGS, ROBUST = "runs", "configs", "robust"
STUDY_FORMAT, STUDY_VERSION = "qhybrid-study", 1

#: Built-in ablations of the quantum head (module docstring).
ABLATIONS = ("no-qpu", "no-encoders", "no-reupload", "connectivity-1")
#: Head factor names -> dotted HeadConfig paths: ``qhybrid train``'s head flags, plus ``noise``.
HEAD_FACTORS = {**HEAD_FLAGS, "noise": ("qpu.noise",)}
#: Training factors (TrainConfig fields, as ``qhybrid train`` names them; ``seed`` is the
#: initialisation seed, not the split seed).
TRAIN_FACTORS = TRAIN_FLAGS
#: Factors that change the run, not the head.
OTHER_FACTORS = ("preset", "body", "embeddings", "arm")
FACTOR_NAMES = (*HEAD_FACTORS, *TRAIN_FACTORS, *OTHER_FACTORS)
DESIGNS = ("full", "fractional")
ON = ("base", "best")
#: Body levels besides a FinetuneConfig mapping.
BODIES = ("frozen", "setfit", "full")
#: Embedding width assumed when it cannot be read before training (a fine-tuned body: the
#: bundled MiniLM's; every run checks its head against the real width again).
FALLBACK_DIM = 384
_SPEC_KEYS = {"name", "description", "seeds", "design", "generators", "baselines", "ablations", "ablate", "data",
              "base", "arms", "factors", "robustness"}
#: The keys whose change makes a folder another study (the rest may grow between calls).
DESIGN_KEYS = ("data", "base", "factors", "design", "generators", "arms")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --------------------------------------------------------------------------------------------
# The config


def _label(value: Any) -> str:
    """A level as text: scalars as they read, mappings as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if isinstance(value, (dict, list)) else str(value)


@dataclass(frozen=True)
class Factor:
    """A factor: its name (:data:`FACTOR_NAMES` or a dotted head path) and its levels (low first)."""

    name: str
    levels: tuple[Any, ...]

    @property
    def labels(self) -> list[str]:
        return [_label(v) for v in self.levels]


@dataclass
class StudySpec:
    """A study config as read (see the module docstring for every key)."""

    name: str
    seeds: list[int]
    factors: list[Factor]
    data: dict[str, Any]
    base: dict[str, Any] = field(default_factory=dict)
    design: str = "full"
    generators: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=lambda: ["logreg"])
    ablations: list[str] = field(default_factory=list)
    ablate: str = "base"
    arms: dict[str, dict[str, Any]] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["factors"] = [{"name": f.name, "levels": list(f.levels)} for f in self.factors]
        return d


def _check_list(key: str, value: Any, of: type | tuple[type, ...] = str) -> list:
    if not isinstance(value, list) or not all(isinstance(v, of) for v in value):
        kind = of.__name__ if isinstance(of, type) else " or ".join(t.__name__ for t in of)
        raise ValueError(f"study config: {key} must be a list of {kind}, got {value!r}")
    return value


def parse_spec(raw: Mapping[str, Any], label: str = "study config") -> StudySpec:
    """A :class:`StudySpec` from the parsed file; every unknown key or bad value raises one
    :class:`ValueError` that names it."""
    from hybrid.compare import parse_seeds

    if not isinstance(raw, Mapping):
        raise ValueError(f"{label}: expected a table of keys, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _SPEC_KEYS)
    if unknown:
        raise ValueError(f"{label}: unknown keys {unknown}; valid keys are {sorted(_SPEC_KEYS)}")
    seeds_raw = raw.get("seeds", [0])
    if isinstance(seeds_raw, str):
        seeds = parse_seeds(seeds_raw)
    else:
        seeds = _check_list("seeds", seeds_raw, int)
        if any(isinstance(s, bool) or s < 0 for s in seeds) or not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"{label}: seeds must be distinct integers >= 0, got {seeds_raw!r}")
    factors = []
    factors_raw = raw.get("factors", [])
    if not isinstance(factors_raw, list):
        raise ValueError(f"{label}: factors must be a list of {{name, levels}} tables, got {factors_raw!r}")
    for i, f in enumerate(factors_raw):
        if not isinstance(f, Mapping) or set(f) != {"name", "levels"}:
            raise ValueError(f"{label}: factor {i + 1} must have exactly the keys 'name' and 'levels', got {f!r}")
        name, levels = f["name"], f["levels"]
        if not isinstance(name, str) or not (name in FACTOR_NAMES or _is_dotted(name)):
            raise ValueError(f"{label}: unknown factor {name!r}; use one of {sorted(FACTOR_NAMES)}, a dotted head "
                             "setting (e.g. 'encoder.bias') or 'train.<field>'")
        if not isinstance(levels, list) or len(levels) < 2:
            raise ValueError(f"{label}: factor {name!r} needs a list of at least 2 levels, got {levels!r}")
        if len({_label(v) for v in levels}) != len(levels):
            raise ValueError(f"{label}: factor {name!r} has a level twice: {levels!r}")
        factors.append(Factor(name, tuple(levels)))
    if len({f.name for f in factors}) != len(factors):
        raise ValueError(f"{label}: a factor is named twice")
    data = raw.get("data")
    if not isinstance(data, Mapping):
        raise ValueError(f"{label}: a [data] table is required (the SST-2 folder and the embeddings)")
    base = raw.get("base", {})
    if not isinstance(base, Mapping):
        raise ValueError(f"{label}: base must be a table of RunConfig fields, got {base!r}")
    arms = raw.get("arms", {})
    if not isinstance(arms, Mapping) or not all(isinstance(v, Mapping) for v in arms.values()):
        raise ValueError(f"{label}: arms must map names to tables of factor settings, got {arms!r}")
    for arm, settings in arms.items():
        if arm in ABLATIONS:
            raise ValueError(f"{label}: arm {arm!r} shadows the built-in ablation of that name")
        for key in settings:
            if key in ("arm", "body", "embeddings") or not (key in FACTOR_NAMES or _is_dotted(key)):
                raise ValueError(f"{label}: arm {arm!r}: unknown setting {key!r}")
    robustness = raw.get("robustness", {})
    if not isinstance(robustness, Mapping) or set(robustness) - {"shots", "noise", "on"}:
        raise ValueError(f"{label}: robustness takes the keys shots, noise and on, got {robustness!r}")
    shots = _check_list("robustness.shots", robustness.get("shots", []), int)
    if any(isinstance(s, bool) or s < 1 for s in shots):
        raise ValueError(f"{label}: robustness.shots must be positive integers, got {shots!r}")
    noise = _check_list("robustness.noise", robustness.get("noise", []), (str, dict))
    spec = StudySpec(
        name=str(raw.get("name", "study")), description=str(raw.get("description", "")), seeds=seeds,
        factors=factors, data=dict(data), base=dict(base), design=raw.get("design", "full"),
        generators=_check_list("generators", raw.get("generators", [])),
        baselines=_check_list("baselines", raw.get("baselines", ["logreg"])),
        ablations=_check_list("ablations", raw.get("ablations", [])), ablate=raw.get("ablate", "base"),
        arms={k: dict(v) for k, v in arms.items()},
        robustness={"shots": shots, "noise": noise, "on": robustness.get("on", "best")})
    if spec.design not in DESIGNS:
        raise ValueError(f"{label}: design must be one of {DESIGNS}, got {spec.design!r}")
    if spec.generators and spec.design != "fractional":
        raise ValueError(f"{label}: generators {spec.generators} need design = 'fractional'")
    for key, value in (("ablate", spec.ablate), ("robustness.on", spec.robustness["on"])):
        if value not in ON:
            raise ValueError(f"{label}: {key} must be one of {ON}, got {value!r}")
    for a in spec.ablations:
        if a not in ABLATIONS:
            raise ValueError(f"{label}: unknown ablation {a!r}; choose from {ABLATIONS}")
    for f in factors:
        if f.name == "arm":
            for level in f.levels:
                if not isinstance(level, str) or (level not in spec.arms and level not in ABLATIONS):
                    raise ValueError(f"{label}: factor 'arm': level {level!r} is neither an [arms] entry nor one "
                                     f"of {ABLATIONS}")
    return spec


def _is_dotted(name: str) -> bool:
    return isinstance(name, str) and "." in name and all(part.isidentifier() for part in name.split("."))


def read_spec(path: str | Path) -> StudySpec:
    """Read a study config (``.toml`` or ``.json``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not TOML / JSON, or a bad key or value (named).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"study config not found: {p}")
    if p.suffix == ".toml":
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: not valid TOML ({exc})") from None
    elif p.suffix == ".json":
        raw = read_json_object(p, str(p))
    else:
        raise ValueError(f"{p}: a study config is a .toml or .json file")
    return parse_spec(raw, str(p))


# --------------------------------------------------------------------------------------------
# Designs


@dataclass
class Design:
    """The cells of a design: level indices per factor (``cells[i][j]`` = level of factor ``j``).

    For two-level designs ``coded`` holds the ±1 matrix (low = -1); a fraction also has its
    generators, defining relation (words, ``I = ...``), resolution and aliases (main effect ->
    the effects it is confounded with, shortest first).
    """

    kind: str
    factors: list[str]
    cells: list[tuple[int, ...]]
    coded: np.ndarray | None = None
    generators: list[str] = field(default_factory=list)
    defining_relation: list[str] = field(default_factory=list)
    resolution: int | None = None
    aliases: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "factors": self.factors, "cells": [list(c) for c in self.cells],
                "generators": self.generators, "defining_relation": self.defining_relation,
                "resolution": self.resolution, "aliases": self.aliases,
                "letters": {_LETTERS[i]: f for i, f in enumerate(self.factors)}}


def full_factorial(factors: Sequence[tuple[str, int]]) -> Design:
    """Every combination of ``(name, number of levels)``; the first factor varies slowest."""
    cells = [tuple(c) for c in itertools.product(*(range(n) for _, n in factors))]
    coded = None
    if factors and all(n == 2 for _, n in factors):
        coded = 2 * np.array(cells, dtype=np.int64) - 1
    return Design("full", [name for name, _ in factors], cells, coded)


def _word(letters: frozenset[str]) -> str:
    return "".join(sorted(letters)) or "I"


def _parse_generator(text: str, k: int) -> tuple[str, frozenset[str], int]:
    """``"D=ABC"`` / ``"D = -AB"`` -> ``("D", {"A", "B", "C"}, +1)``."""
    lhs, sep, rhs = str(text).replace(" ", "").partition("=")
    sign = 1
    if rhs.startswith("-"):
        sign, rhs = -1, rhs[1:]
    rhs = rhs.lstrip("+")
    valid = _LETTERS[:k]
    if not sep or len(lhs) != 1 or lhs not in valid or not rhs or any(c not in valid for c in rhs) \
            or len(set(rhs)) != len(rhs) or lhs in rhs:
        raise ValueError(f"bad generator {text!r}: write it as 'D=ABC' with letters {valid[0]}..{valid[-1]} "
                         f"for the {k} factors in order")
    return lhs, frozenset(rhs), sign


def fractional_factorial(names: Sequence[str], generators: Sequence[str]) -> Design:
    """The regular two-level fraction ``2^(k-p)`` of ``k`` factors given by ``p`` generators.

    Factor ``j`` is letter ``A + j``.  The base factors (not on a generator's left side) form a
    full factorial in ±1 (the first varies slowest); a generated column ``D=ABC`` is the
    elementwise product ``x_A x_B x_C`` (negated for ``D=-ABC``).  Each generator gives the word
    ``I = ±ABCD``; the defining relation is every product of these words (letters multiply
    modulo 2); the resolution is its shortest word's length, and the aliases of an effect ``W``
    are the products ``W·V`` for the words ``V``.

    Raises:
        ValueError: a malformed generator, a letter generated twice, a generated letter used on a
            right side, or resolution below III (main effects aliased with each other).
    """
    k = len(names)
    if k > len(_LETTERS):
        raise ValueError(f"a fractional design takes at most {len(_LETTERS)} factors, got {k}")
    if not generators:
        raise ValueError("a fractional design needs generators such as 'C=AB'")
    parsed = [_parse_generator(g, k) for g in generators]
    generated = [lhs for lhs, _, _ in parsed]
    if len(set(generated)) != len(generated):
        raise ValueError(f"generators {list(generators)}: a letter is generated twice")
    for g, (_, rhs, _) in zip(generators, parsed):
        if rhs & set(generated):
            raise ValueError(f"generator {g!r} uses a generated factor on its right side; write it in base factors")
    base = [c for c in _LETTERS[:k] if c not in generated]
    runs = [dict(zip(base, combo)) for combo in itertools.product((-1, 1), repeat=len(base))]
    for lhs, rhs, sign in parsed:
        for r in runs:
            r[lhs] = sign * int(np.prod([r[c] for c in rhs]))
    coded = np.array([[r[c] for c in _LETTERS[:k]] for r in runs], dtype=np.int64)
    # the defining relation: every product of the generator words
    words: dict[frozenset[str], int] = {}
    for n in range(1, len(parsed) + 1):
        for subset in itertools.combinations(parsed, n):
            letters: frozenset[str] = frozenset()
            sign = 1
            for lhs, rhs, s in subset:
                letters = letters ^ (rhs | {lhs})
                sign *= s
            words[letters] = sign
    resolution = min(len(w) for w in words)
    order = sorted(words.items(), key=lambda e: (len(e[0]), _word(e[0])))
    relation = [("-" if s < 0 else "") + _word(w) for w, s in order]
    if resolution < 3:
        raise ValueError(f"generators {list(generators)} give resolution {resolution} (I = {', '.join(relation)}): "
                         "two main effects would be aliased; use words of at least 3 letters")
    aliases = {}
    for i, name in enumerate(names):
        own = frozenset(_LETTERS[i])
        found = sorted(((own ^ w, s) for w, s in words.items()), key=lambda e: (len(e[0]), _word(e[0])))
        aliases[name] = [("-" if s < 0 else "") + _word(w) for w, s in found]
    cells = [tuple(int(v > 0) for v in row) for row in coded]
    return Design("fractional", list(names), cells, coded, list(generators), relation, resolution, aliases)


def make_design(spec: StudySpec) -> Design:
    """The design a spec asks for (no factors: one cell, the base head).

    Raises:
        ValueError: a fractional design with a factor of more than two levels.
    """
    if spec.design == "full":
        return full_factorial([(f.name, len(f.levels)) for f in spec.factors])
    many = [f.name for f in spec.factors if len(f.levels) != 2]
    if many:
        raise ValueError(f"a fractional design has two levels per factor; {many} have more")
    return fractional_factorial([f.name for f in spec.factors], spec.generators)


# --------------------------------------------------------------------------------------------
# Runs from settings


def _train_default(model: str) -> dict[str, Any]:
    from hybrid.baselines import MLP_DEFAULT_CONFIG
    from hybrid.experiment import QUANTUM_TRAIN_DEFAULT

    return (MLP_DEFAULT_CONFIG if model.startswith("mlp") else QUANTUM_TRAIN_DEFAULT).to_dict()


def _finetune_level(level: Any, base_ft: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if level == "frozen":
        return None
    if level in ("setfit", "full"):
        return {**(base_ft or {}), "mode": level, "progress": False}
    if isinstance(level, Mapping):
        return {**level, "progress": False}
    raise ValueError(f"body level {level!r} must be one of {BODIES} or a FinetuneConfig table")


def _apply(d: dict[str, Any], name: str, value: Any, base_ft: Mapping[str, Any] | None) -> None:
    """Set factor ``name`` to ``value`` in the RunConfig dict ``d`` (head settings in
    ``head_overrides``, training fields in ``train``)."""
    if name in HEAD_FACTORS or (_is_dotted(name) and not name.startswith("train.")):
        paths = HEAD_FACTORS.get(name, (name,))
        d["head_overrides"] = {**(d.get("head_overrides") or {}), **{p: value for p in paths}}
    elif name in TRAIN_FACTORS or name.startswith("train."):
        d["train"] = {**(d.get("train") or _train_default(d["model"])), name.removeprefix("train."): value}
    elif name == "preset":
        d["preset"], d["head"] = value, None
    elif name == "embeddings":
        d["data"] = {**d["data"], "embeddings": value}
    elif name == "body":
        d["finetune"] = _finetune_level(value, base_ft)
        if d["finetune"] is not None:
            d["data"] = {**d["data"], "embeddings": None}
    else:  # pragma: no cover - parse_spec admits no other name
        raise ValueError(f"unknown factor {name!r}")


def _data_of(base: Mapping[str, Any], settings: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``{"data", "finetune"}`` of ``base`` with the data-changing settings (``embeddings``, ``body``) applied."""
    d = {"model": base["model"], "data": dict(base["data"]), "finetune": base.get("finetune")}
    for name, value in settings:
        if name in ("embeddings", "body"):
            _apply(d, name, value, base.get("finetune"))
    return d


def _ablation(name: str, head) -> dict[str, Any]:
    """The dotted head settings of a built-in ablation of ``head`` (a resolved HeadConfig)."""
    if name == "no-qpu":
        return {"linear_input": "encoders_only"}
    if name == "no-encoders":
        pre = head.preprocess if head.preprocess != "none" else "pca"
        return {"n_encoders": 0, "preprocess": pre, "components": head.qpu_qubits, "qpu.standardize": True}
    if name == "no-reupload":
        return {"qpu.reuploads": 1}
    if name == "connectivity-1":
        return {"encoder.connectivity": 1, "qpu.connectivity": 1}
    raise ValueError(f"unknown ablation {name!r}; choose from {ABLATIONS}")


def build_run(base: Mapping[str, Any], settings: Sequence[tuple[str, Any]], arms: Mapping[str, Mapping[str, Any]],
              dim: int):
    """The :class:`~hybrid.experiment.RunConfig` of the quantum head ``base`` with ``settings``
    (``(factor, level)`` pairs, arms expanded) applied, checked against ``dim``-wide embeddings.

    Raises:
        ValueError: a setting the head or the run refuses (the message of the config class).
    """
    from hybrid.experiment import RunConfig

    d = json.loads(json.dumps(dict(base)))
    base_ft = d.get("finetune")
    plain, arm_levels = [], []
    for name, value in settings:
        if name == "arm":
            arm_levels.append(value)
        else:
            plain.append((name, value))
    for level in arm_levels:  # an arm's own settings first, ablations last (they read the head)
        if level in arms:
            plain.extend(arms[level].items())
    for name, value in plain:
        _apply(d, name, value, base_ft)
    changes = d.get("head_overrides") or {}
    if "encoder.n_qubits" in changes and "components" not in changes:
        plain_head = RunConfig.from_dict({**d, "head_overrides": base.get("head_overrides")}).head_for(dim)
        if changes.get("preprocess", plain_head.preprocess) != "none":
            bias = changes.get("encoder.bias", plain_head.encoder.bias)
            changes["components"] = min(dim, 2 ** int(changes["encoder.n_qubits"]) - (1 if bias else 0))
    for level in arm_levels:
        if level in ABLATIONS:
            head = RunConfig.from_dict(d).head_for(dim)
            d["head_overrides"] = {**(d.get("head_overrides") or {}), **_ablation(level, head)}
    cfg = RunConfig.from_dict(d)
    cfg.head_for(dim)  # every head setting checked now, not in the middle of the study
    return cfg


def _baseline_run(quantum_cfg, model: str):
    """A baseline beside ``quantum_cfg``: its data and (SetFit) body; ``mlp-matched`` keeps the head
    overrides, whose parameter count it matches."""
    from hybrid.compare import baseline_finetune
    from hybrid.experiment import HEAD_MODELS

    train = None
    if model.startswith("mlp"):
        from hybrid.config import TrainConfig

        train = TrainConfig.from_dict({**_train_default(model), "progress": False})
    return dataclasses.replace(
        quantum_cfg, model=model, train=train, reference=False, folds=None, fold_final="refit",
        finetune=baseline_finetune(quantum_cfg.finetune),
        head_overrides=quantum_cfg.head_overrides if model in HEAD_MODELS else None,
        preset=quantum_cfg.preset if model in HEAD_MODELS else "default",
        head=quantum_cfg.head if model in HEAD_MODELS else None)


# --------------------------------------------------------------------------------------------
# The plan


@dataclass
class Group:
    """Runs of one configuration over the study's seeds: ``runs/<name>/seed-<s>``.

    ``kind``: ``cell``, ``base``, ``baseline``, ``ablation`` or ``matched``."""

    name: str
    kind: str
    config: dict[str, Any]
    cell: str | None = None
    label: str = ""

    def folder(self, root: Path, seed: int) -> Path:
        return root / RUNS / self.name / f"seed-{seed}"

    def run_config(self, seed: int):
        from hybrid.experiment import RunConfig

        cfg = RunConfig.from_dict(self.config)
        return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, seed=seed))


@dataclass
class EvalArm:
    """The chosen head's runs evaluated with ``shots`` or ``noise`` on the QPU module."""

    name: str
    shots: int | None = None
    noise: Any = None

    @property
    def label(self) -> str:
        return f"{self.shots} shots" if self.shots is not None else f"noise {_label(self.noise)}"


@dataclass
class Study:
    """A planned study: the spec, its design, the cells and the run groups of the first phase."""

    spec: StudySpec
    design: Design
    cells: list[dict[str, Any]]
    groups: dict[str, Group]
    dims: dict[str, int]
    base_group: str | None = None
    root: Path | None = None

    @property
    def seeds(self) -> list[int]:
        return self.spec.seeds

    def cell_groups(self) -> list[Group]:
        return [g for g in self.groups.values() if g.kind == "cell"]

    def eval_arms(self) -> list[EvalArm]:
        r = self.spec.robustness
        arms = [EvalArm(f"shots-{s}", shots=s) for s in r.get("shots", [])]
        for i, n in enumerate(r.get("noise", [])):
            arms.append(EvalArm(f"noise-{n}" if isinstance(n, str) else f"noise-{i}", noise=n))
        return arms

    def phase_two_count(self) -> int:
        """Runs and evaluations of the second phase (per seed, times the seeds)."""
        n = ("mlp-matched" in self.spec.baselines) + (len(self.spec.ablations) if self.spec.ablate == "best" else 0)
        return (n + len(self.eval_arms())) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {"format": STUDY_FORMAT, "version": STUDY_VERSION, "spec": self.spec.to_dict(),
                "design": self.design.to_dict(), "cells": self.cells, "dims": self.dims,
                "base_group": self.base_group,
                "groups": {n: dataclasses.asdict(g) for n, g in self.groups.items()}}


def _input_dim(data: Mapping[str, Any], finetune: Any) -> int:
    """Width of the embeddings a run will see: read from the data for a frozen body."""
    from hybrid.experiment import DataConfig, prepare_data

    if finetune is not None:
        return FALLBACK_DIM
    return prepare_data(DataConfig.from_dict(data)).dim


def _base_config(spec: StudySpec) -> dict[str, Any]:
    from hybrid.experiment import RunConfig

    base = {**spec.base, "model": "quantum", "reference": False}
    if "data" in spec.base:
        raise ValueError("study config: put the data settings in [data], not in base.data")
    data = {**spec.data, "seed": 0}
    if data.get("split", "paper") != "paper":
        raise ValueError("study config: data.split must be 'paper' (the seeds draw the splits)")
    base["data"] = data
    base["train"] = {**_train_default("quantum"), **(spec.base.get("train") or {}), "progress": False}
    if base.get("finetune") is not None:
        base["finetune"] = {**base["finetune"], "progress": False}
    return RunConfig.from_dict(base).to_dict()


def _dim_key(cfg_dict: Mapping[str, Any]) -> str:
    """What decides the embedding width of a run: its embeddings file and its body."""
    return json.dumps([cfg_dict["data"].get("embeddings"), cfg_dict.get("finetune")], sort_keys=True)


def _resolved(cfg, dim: int) -> dict[str, Any]:
    """What a run trains, with the head resolved (two configs that train the same head compare equal)."""
    d = cfg.to_dict()
    if cfg.is_quantum:
        d.update(head=cfg.head_for(dim).to_dict(), head_overrides=None, preset=None)
    d["train"] = {k: v for k, v in (d.get("train") or {}).items() if k != "progress"}
    return d


def plan_study(spec: StudySpec) -> Study:
    """Design, cells and first-phase groups of ``spec``; every cell's head checked.

    Raises:
        ValueError: a bad factor level (the factor, the level and the reason named) or base setting.
    """
    design = make_design(spec)
    base = _base_config(spec)
    dims: dict[str, int] = {}

    def dim_of(cfg_dict: Mapping[str, Any]) -> int:
        key = _dim_key(cfg_dict)
        if key not in dims:
            dims[key] = _input_dim(cfg_dict["data"], cfg_dict.get("finetune"))
        return dims[key]

    groups: dict[str, Group] = {}
    cells = []
    width = max(2, len(str(len(design.cells) - 1)))
    for i, levels in enumerate(design.cells):
        settings = [(f.name, f.levels[k]) for f, k in zip(spec.factors, levels)]
        name = f"cell-{i:0{width}d}"
        label = ", ".join(f"{f}={_label(v)}" for f, v in settings) or "base"
        try:
            cfg = build_run(base, settings, spec.arms, dim_of(_data_of(base, settings)))
        except ValueError as exc:
            raise ValueError(f"{name} ({label}): {one_line(exc)}") from None
        groups[name] = Group(name, "cell", cfg.to_dict(), cell=name, label=label)
        cells.append({"cell": name, "levels": {f.name: f.labels[k] for f, k in zip(spec.factors, levels)},
                      "index": list(levels), "label": label})
    base_group = None
    needs_base = (spec.ablations and spec.ablate == "base") or (
        spec.robustness["on"] == "base" and (spec.robustness["shots"] or spec.robustness["noise"]))
    if needs_base or not groups:
        try:
            base_cfg = build_run(base, [], spec.arms, dim_of(base))
        except ValueError as exc:
            raise ValueError(f"the base head: {one_line(exc)}") from None
        same = _resolved(base_cfg, dim_of(base))
        ref = next((g for g in groups.values() if _resolved(g.run_config(0), dim_of(g.config)) == same), None)
        if ref is None:
            ref = groups["base"] = Group("base", "base", base_cfg.to_dict(), label="base head")
        base_group = ref.name
    if spec.ablations and spec.ablate == "base":
        for a in spec.ablations:
            try:
                cfg = build_run(ref.config, [("arm", a)], spec.arms, dim_of(ref.config))
            except ValueError as exc:
                raise ValueError(f"ablation {a!r} of the base head: {one_line(exc)}") from None
            groups[f"ablation-{a}"] = Group(f"ablation-{a}", "ablation", cfg.to_dict(), cell=ref.name, label=a)
    # baselines on every data variant the cells use (another frozen body, a SetFit body)
    variants: dict[str, Any] = {}
    for g in list(groups.values()):
        key = json.dumps([g.config["data"], g.config.get("finetune")], sort_keys=True)
        variants.setdefault(key, g)
    for b in dict.fromkeys([*spec.baselines, "logreg"]):
        if b == "mlp-matched":
            continue  # second phase: matched to the chosen head
        for v, (key, g) in enumerate(variants.items()):
            name = f"baseline-{b}" + (f"-data{v}" if len(variants) > 1 else "")
            try:
                cfg = _baseline_run(g.run_config(0), b)
            except ValueError as exc:
                raise ValueError(f"baseline {b!r}: {one_line(exc)}") from None
            groups[name] = Group(name, "baseline", cfg.to_dict(), cell=g.name, label=b)
    return Study(spec, design, cells, groups, dict(dims), base_group=base_group)


def second_phase(study: Study, best: str) -> dict[str, Group]:
    """Groups that need the chosen cell: the parameter-matched MLP and ablations on ``best``."""
    ref = study.groups[best]
    out: dict[str, Group] = {}
    if "mlp-matched" in study.spec.baselines:
        cfg = _baseline_run(ref.run_config(0), "mlp-matched")
        out["matched-mlp"] = Group("matched-mlp", "matched", cfg.to_dict(), cell=best, label="mlp-matched")
    if study.spec.ablate == "best":
        dim = study.dims.get(_dim_key(ref.config), FALLBACK_DIM)
        for a in study.spec.ablations:
            cfg = build_run(ref.config, [("arm", a)], study.spec.arms, dim)
            out[f"best-ablation-{a}"] = Group(f"best-ablation-{a}", "ablation", cfg.to_dict(), cell=best, label=a)
    return out


def describe_plan(study: Study) -> str:
    """The design and the run count, as ``qhybrid study --dry-run`` prints them."""
    spec, d = study.spec, study.design
    kinds: dict[str, int] = {}
    for g in study.groups.values():
        kinds[g.kind] = kinds.get(g.kind, 0) + 1
    seeds = len(study.seeds)
    lines = [f"study {spec.name!r}: {d.kind} factorial, {len(d.cells)} cells x {seeds} seeds "
             f"({', '.join(map(str, study.seeds))})"]
    for f in spec.factors:
        lines.append(f"  factor {f.name}: {' | '.join(f.labels)}")
    if d.kind == "fractional":
        lines.append(f"  generators {', '.join(d.generators)}; I = {' = '.join(d.defining_relation)}; "
                     f"resolution {d.resolution}")
        for name, al in d.aliases.items():
            lines.append(f"  {name} is aliased with {', '.join(al)}")
    for c in study.cells:
        lines.append(f"  {c['cell']}: {c['label']}")
    first = sum(kinds.values()) * seeds
    lines.append("phase 1: " + ", ".join(f"{n} {k} group(s)" for k, n in kinds.items()) + f" x {seeds} seeds = "
                 f"{first} runs")
    lines.append(f"phase 2 (after the best cell is chosen on validation loss): {study.phase_two_count()} runs / "
                 "evaluations")
    lines.append(f"estimated total: {first + study.phase_two_count()} runs and evaluations")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Running


_DATA_CACHE: dict[str, Any] = {}


def _dataset(cfg):
    """The prepared data of a run (one or two kept per process: the last data variants)."""
    from hybrid.experiment import prepare_data

    key = json.dumps([cfg.data.to_dict(), None if cfg.finetune is None else cfg.finetune.to_dict()], sort_keys=True)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 2:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = prepare_data(cfg.data, cfg.finetune)
    return _DATA_CACHE[key]


def _one_thread() -> tuple[int, int]:
    """Worker initialiser: torch and qsim's kernels on one thread (jobs share the cores).
    Returns the previous ``(torch, qsim)`` thread counts."""
    import torch

    from qsim import get_num_threads, set_num_threads

    before = (torch.get_num_threads(), get_num_threads())
    torch.set_num_threads(1)
    set_num_threads(1)
    return before


@contextlib.contextmanager
def _threads_of_one() -> Iterator[None]:
    """One thread in this process for the block (``--jobs 1``), the previous counts restored after."""
    import torch

    from qsim import set_num_threads

    torch_n, qsim_n = _one_thread()
    try:
        yield
    finally:
        torch.set_num_threads(torch_n)
        set_num_threads(qsim_n)


def _summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": metrics.get("status"), "test_accuracy": metrics["test"]["accuracy"],
            "validation_accuracy": metrics["validation"]["accuracy"],
            "validation_loss": metrics["validation"].get("loss"), "parameters": metrics.get("parameters")}


def execute_run(config: dict[str, Any], folder: str) -> dict[str, Any]:
    """Train one run (or read a finished one back): :func:`hybrid.experiment.train_run` with
    ``resume=True``.  Returns the scores kept in the index."""
    from hybrid.experiment import RunConfig, train_run

    cfg = RunConfig.from_dict(config)
    result = train_run(cfg, folder, dataset=_dataset(cfg), resume=True)
    return _summary(result.metrics)


def evaluate_under(run_dir: str | Path, *, shots: int | None = None, noise: Any = None, seed: int = 0,
                   dataset=None) -> dict[str, Any]:
    """Test (and validation) accuracy of a trained quantum run with its QPU module run with
    ``shots`` and / or ``noise`` (:class:`~hybrid.layers.QPUConfig`; the encoders stay exact).

    The trained weights are loaded into a head whose QPU configuration differs only in those
    options; shot sampling is seeded with ``seed``.
    """
    from hybrid.experiment import load_run_model, prepare_data, read_run_config
    from hybrid.head import HeadConfig, QuantumHead
    from hybrid.training import evaluate

    cfg, _ = read_run_config(run_dir)
    if not cfg.is_quantum:
        raise ValueError(f"{run_dir}: shots and noise apply to a quantum head, not to {cfg.model!r}")
    model = load_run_model(run_dir)
    c = model.config.to_dict()
    c["qpu"] = {**c["qpu"], "shots": shots, "noise": noise, "seed": seed}
    head = QuantumHead(HeadConfig.from_dict(c))
    head.load_state_dict(model.state_dict())
    head.eval()
    ds = dataset if dataset is not None else prepare_data(cfg.data, cfg.finetune)
    return {"test": evaluate(head, ds.X["test"], ds.y["test"]),
            "validation": evaluate(head, ds.X["validation"], ds.y["validation"])}


def _eval_key(run_dir: str | Path, shots: int | None, noise: Any, seed: int) -> dict[str, Any]:
    return {"run": str(Path(run_dir).resolve()), "shots": shots, "noise": noise, "seed": seed}


def _read_eval(path: Path, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """A finished evaluation in ``path`` made with ``key`` (run, shots, noise, seed), else ``None``."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return old if isinstance(old, dict) and old.get("key") == key and old.get("status") == "finished" else None


def execute_eval(run_dir: str, out_file: str, shots: int | None, noise: Any, seed: int) -> dict[str, Any]:
    """One robustness evaluation, written atomically to ``out_file`` (read back when it exists
    for the same run and options)."""
    from hybrid.experiment import read_run_config

    out = Path(out_file)
    key = _eval_key(run_dir, shots, noise, seed)
    old = _read_eval(out, key)
    if old is not None:
        return old
    cfg, _ = read_run_config(run_dir)
    t0 = time.perf_counter()
    res = evaluate_under(run_dir, shots=shots, noise=noise, seed=seed, dataset=_dataset(cfg))
    record = {"key": key, **res, "seconds": time.perf_counter() - t0, "status": "finished"}
    atomic_write_json(out, record)
    return record


def _compatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The design keys in which two specs differ."""
    return [k for k in DESIGN_KEYS if old.get(k) != new.get(k)]


def _prepare_folder(study: Study, root: Path) -> None:
    """Check ``root`` (writable; not another study) and write study.json and the group configs."""
    from hybrid.runfolder import RunFolderError, check_out_dir

    check_out_dir(root, run_folder=False)
    if root.is_dir() and not os.access(root, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {root}: is not writable")
    existing = root / STUDY_FILE
    if existing.is_file():
        old = read_json_object(existing, str(existing))
        differ = _compatible(old.get("spec", {}), study.spec.to_dict())
        if old.get("format") != STUDY_FORMAT or differ:
            raise RunFolderError(f"--out {root}: holds another study (its {', '.join(differ) or 'format'} differ); "
                                 "use another folder, or delete it to start again")
    elif root.is_dir() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise RunFolderError(f"--out {root}: not empty and not a study folder; use a new or empty folder")
    atomic_write_json(root / STUDY_FILE, study.to_dict())
    atomic_write_json(root / SPEC_FILE, study.spec.to_dict())
    _write_group_configs(root, study.groups)


def _write_group_configs(root: Path, groups: Mapping[str, Group]) -> None:
    for g in groups.values():
        atomic_write_json(root / CONFIGS / f"{g.name}.json", g.config)


@dataclass
class _Job:
    key: str
    kind: str                      # "run" or "eval"
    args: tuple


class _Runner:
    """Runs jobs in this process or a pool, keeps the index, shows progress."""

    def __init__(self, root: Path, jobs: int, progress: bool) -> None:
        self.root, self.jobs, self.progress = root, jobs, progress
        # rebuilt by every call from the run folders (what is planned now, finished or not)
        self.index: dict[str, Any] = {"runs": {}}
        self.failed: list[str] = []

    def save(self) -> None:
        runs = self.index["runs"]
        self.index["finished"] = sum(1 for r in runs.values() if r.get("status") == "finished")
        self.index["failed"] = sum(1 for r in runs.values() if r.get("status") == "failed")
        atomic_write_json(self.root / INDEX_FILE, self.index)

    def _done(self, job: _Job, result: dict[str, Any] | None, error: BaseException | None) -> None:
        if error is not None:
            self.failed.append(f"{job.key}: {one_line(error)}")
            self.index["runs"][job.key] = {"status": "failed", "error": one_line(error)}
            logger.warning("%s failed: %s", job.key, one_line(error))
        elif job.kind == "run":
            self.index["runs"][job.key] = result
        else:
            self.index["runs"][job.key] = {"status": result.get("status"),
                                           "test_accuracy": result["test"]["accuracy"]}
        self.save()

    def run(self, jobs: list[_Job], desc: str) -> None:
        from tqdm.auto import tqdm

        if not jobs:
            return
        bar = tqdm(total=len(jobs), desc=desc, unit="run", disable=not self.progress, file=sys.stderr)
        try:
            if self.jobs == 1:
                with _threads_of_one():
                    for job in jobs:
                        self._one(job, bar)
            else:
                self._pool(jobs, bar)
        finally:
            bar.close()
            self.save()

    def _one(self, job: _Job, bar) -> None:
        from hybrid.interrupts import is_interrupt

        fn = execute_run if job.kind == "run" else execute_eval
        try:
            result, error = fn(*job.args), None
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one failed run is recorded, the study goes on
            if is_interrupt(exc):
                raise KeyboardInterrupt from exc
            result, error = None, exc
        self._done(job, result, error)
        bar.update()

    def _pool(self, jobs: list[_Job], bar) -> None:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_one_thread) as pool:
            futures = {pool.submit(execute_run if j.kind == "run" else execute_eval, *j.args): j for j in jobs}
            try:
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        self._done(job, fut.result(), None)
                    except Exception as exc:  # noqa: BLE001 - recorded (a broken pool too), the study goes on
                        self._done(job, None, exc)
                    bar.update()
            except KeyboardInterrupt:
                for fut in futures:
                    fut.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def _collect(root: Path, groups: Mapping[str, Group], seeds: Sequence[int]) -> dict[str, dict[int, dict]]:
    """``{group: {seed: metrics}}`` of the finished runs."""
    from hybrid.runfolder import STATUS_FINISHED, read_status

    out: dict[str, dict[int, dict]] = {}
    for g in groups.values():
        for s in seeds:
            folder = g.folder(root, s)
            if read_status(folder) == STATUS_FINISHED:
                out.setdefault(g.name, {})[s] = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    return out


def run_study(spec: StudySpec, out_dir: str | Path, *, jobs: int = 1, progress: bool = True) -> dict[str, Any]:
    """Plan ``spec`` and run it into ``out_dir`` (both phases; finished runs read back).

    Returns:
        ``{"planned", "finished", "failed": [lines], "best": cell or None}``.

    Raises:
        ValueError: a bad spec or an unusable folder (named).
        KeyboardInterrupt: Ctrl-C; finished runs and the index are kept.
    """
    from hybrid.analysis import select_by_validation_loss
    from hybrid.runfolder import STATUS_FINISHED, read_status

    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    root = Path(out_dir)
    study = plan_study(spec)
    study.root = root
    _prepare_folder(study, root)
    runner = _Runner(root, jobs, progress)
    runner.index["study"] = spec.name

    def run_jobs(groups: Mapping[str, Group]) -> list[_Job]:
        """Jobs of the runs not finished yet (finished ones go to the index as they are)."""
        todo = []
        for g in groups.values():
            for s in study.seeds:
                key, folder = f"{RUNS}/{g.name}/seed-{s}", g.folder(root, s)
                if read_status(folder) == STATUS_FINISHED:
                    runner.index["runs"][key] = _summary(json.loads((folder / "metrics.json").read_text("utf-8")))
                else:
                    todo.append(_Job(key, "run", (g.run_config(s).to_dict(), str(folder))))
        return todo

    first = run_jobs(study.groups)
    runner.index["planned"] = len(study.groups) * len(study.seeds) + study.phase_two_count()
    runner.run(first, f"{spec.name}: phase 1")
    cells = _collect(root, {g.name: g for g in study.cell_groups()}, study.seeds)
    best = None
    missing = [f"{g.name}/seed-{s}" for g in study.cell_groups() for s in study.seeds if s not in cells.get(g.name, {})]
    if missing:
        logger.warning("%d design runs did not finish (%s): no best cell, no second phase", len(missing),
                       ", ".join(missing[:5]))
    elif cells:
        selection = select_by_validation_loss(cells, study.seeds)
        best = selection["best"]
        groups2 = second_phase(study, best)
        _write_group_configs(root, groups2)
        ref = best if spec.robustness["on"] == "best" else study.base_group
        arms = study.eval_arms()
        atomic_write_json(root / SELECTION_FILE, {
            "best": best, "selected_on": "mean validation loss over seeds", **selection,
            "groups": {n: dataclasses.asdict(g) for n, g in groups2.items()},
            "robustness": {"on": ref, "arms": [dataclasses.asdict(a) for a in arms]}})
        second = run_jobs(groups2)
        for arm in arms:
            for s in study.seeds:
                target, source = root / ROBUST / arm.name / f"seed-{s}.json", study.groups[ref].folder(root, s)
                job = _Job(f"{ROBUST}/{arm.name}/seed-{s}", "eval", (str(source), str(target), arm.shots, arm.noise, s))
                done = _read_eval(target, _eval_key(source, arm.shots, arm.noise, s))
                if done is None:
                    second.append(job)
                else:
                    runner.index["runs"][job.key] = {"status": "finished", "test_accuracy": done["test"]["accuracy"]}
        runner.run(second, f"{spec.name}: phase 2")
    runner.save()
    runs = runner.index["runs"]
    return {"planned": runner.index["planned"], "best": best, "failed": runner.failed,
            "finished": sum(1 for r in runs.values() if r.get("status") == "finished")}


def load_study(study_dir: str | Path) -> tuple[Study, dict[str, Any] | None]:
    """The plan stored in a study folder and its selection (``None`` before the second phase).

    Raises:
        FileNotFoundError: no study.json in the folder.
        ValueError: a study.json of another format.
    """
    root = Path(study_dir)
    path = root / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a study folder: {STUDY_FILE} is missing")
    data = read_json_object(path, str(path))
    if data.get("format") != STUDY_FORMAT:
        raise ValueError(f"{path}: not a qhybrid study ({data.get('format')!r})")
    spec = parse_spec(data["spec"], str(path))
    d = data["design"]
    design = Design(d["kind"], d["factors"], [tuple(c) for c in d["cells"]], None, d["generators"],
                    d["defining_relation"], d["resolution"], d["aliases"])
    if design.cells and all(len(f.levels) == 2 for f in spec.factors) and spec.factors:
        design.coded = 2 * np.array(design.cells, dtype=np.int64) - 1
    groups = {n: Group(**g) for n, g in data["groups"].items()}
    study = Study(spec, design, data["cells"], groups, data.get("dims", {}), data.get("base_group"), root)
    sel_path = root / SELECTION_FILE
    selection = read_json_object(sel_path, str(sel_path)) if sel_path.is_file() else None
    return study, selection


# --------------------------------------------------------------------------------------------
# Analysis of a study folder


def run_facts(folder: Path) -> dict[str, Any]:
    """Qubits (the widest circuit: encoder or QPU) and parameters of a finished run folder."""
    record = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    info = record.get("head_info") or {}
    qubits = max(info.get("encoder_qubits", 0), info.get("qpu_qubits", 0)) if info else None
    return {"qubits": qubits, "head": record.get("head")}


def analyse_study(study_dir: str | Path) -> dict[str, Any]:
    """Every number of a study folder's report, from its finished runs (:mod:`hybrid.analysis`).

    Returns (JSON-ready):
        ``design``, ``factors``, ``cells`` (per cell: levels, parameters, qubits, test accuracy
        over seeds with its interval, mean validation loss and accuracy), ``main_effects`` (on
        test accuracy), ``selection`` (by validation loss only; plus, marked as not used, the cell
        with the best mean test accuracy), ``models`` (:func:`hybrid.compare.summarize` of the best
        head, the base head, every baseline and ablation: mean ± std, paired difference to
        logistic regression and its t-test), ``best_vs_baselines`` (a paired comparison with each
        baseline), ``ablations`` (each against the head it ablates), ``robustness`` (shots and
        noise arms against the exact head), ``missing`` (planned runs without a finished result).
    """
    from hybrid.analysis import (Observation, main_effects, paired_comparison, seed_summary,
                                 select_by_validation_loss, t_interval)
    from hybrid.compare import REFERENCE_MODEL, summarize

    study, selection = load_study(study_dir)
    root = Path(study_dir)
    groups = dict(study.groups)
    if selection:
        groups.update({n: Group(**g) for n, g in selection.get("groups", {}).items()})
    results = _collect(root, groups, study.seeds)
    missing = [f"{RUNS}/{g}/seed-{s}" for g in groups for s in study.seeds if s not in results.get(g, {})]
    facts = {g: run_facts(groups[g].folder(root, min(r))) for g, r in results.items()}
    out: dict[str, Any] = {"name": study.spec.name, "seeds": study.seeds, "design": study.design.to_dict(),
                           "factors": [{"name": f.name, "levels": f.labels} for f in study.spec.factors],
                           "missing": missing}
    # cells and main effects
    cell_rows, observations = [], []
    for c in study.cells:
        r = results.get(c["cell"], {})
        row = {**c, "runs": len(r)}
        if r:
            acc = {s: m["test"]["accuracy"] for s, m in r.items()}
            row.update(test=seed_summary(acc), parameters=next(iter(r.values()))["parameters"],
                       qubits=facts[c["cell"]]["qubits"],
                       validation_loss=float(np.mean([m["validation"]["loss"] for m in r.values()])),
                       validation_accuracy=float(np.mean([m["validation"]["accuracy"] for m in r.values()])))
            observations += [Observation(tuple(c["index"]), s, a) for s, a in acc.items()]
        cell_rows.append(row)
    out["cells"] = cell_rows
    out["main_effects"] = main_effects(observations, [(f.name, f.labels) for f in study.spec.factors]) \
        if study.spec.factors else []
    cells = {c["cell"]: results[c["cell"]] for c in study.cells if c["cell"] in results}
    best = None
    if cells:
        sel = select_by_validation_loss(cells, study.seeds)
        best = sel["best"]
        by_test = max((r for r in cell_rows if r.get("test")), key=lambda r: r["test"]["mean"])
        sel["best_by_test_not_used"] = {"cell": by_test["cell"], "test_mean": by_test["test"]["mean"]}
        out["selection"] = sel
    # models: the best head, the base head, baselines, ablations
    named: dict[str, dict[int, dict]] = {}
    if best:
        named[f"best head ({best})"] = results[best]
    if study.base_group and study.base_group in results and study.base_group != best:
        named[f"base head ({study.base_group})"] = results[study.base_group]
    baselines = {(g.label if g.kind == "matched" else g.name.removeprefix("baseline-")): results[g.name]
                 for g in groups.values() if g.kind in ("baseline", "matched") and g.name in results}
    for g in groups.values():
        if g.kind == "ablation" and g.name in results:
            named[f"{g.label} ({g.name})"] = results[g.name]
    ref_first = {REFERENCE_MODEL: baselines[REFERENCE_MODEL]} if REFERENCE_MODEL in baselines else {}
    named = {**ref_first, **named, **{k: v for k, v in baselines.items() if k != REFERENCE_MODEL}}
    models = summarize(named)["models"] if named else {}
    for name, row in models.items():
        row["interval"] = t_interval(row["test_accuracy"]).to_dict()
        source = next((g for g in groups.values() if results.get(g.name) is named[name]), None)
        row["group"] = source.name if source else None
        row["qubits"] = facts[source.name]["qubits"] if source else None
    out["models"] = models
    if best:
        out["best_vs_baselines"] = {b: paired_comparison(results[best], r, best) for b, r in baselines.items()}
    out["ablations"] = {}
    for g in groups.values():
        if g.kind == "ablation" and g.name in results and g.cell in results:
            out["ablations"][g.label] = {"group": g.name, "of": g.cell,
                                         **paired_comparison(results[g.name], results[g.cell], g.label)}
    # robustness: the chosen head under shots and noise, paired with its exact evaluation
    robust: dict[str, Any] = {"arms": []}
    if selection and selection.get("robustness"):
        ref = selection["robustness"]["on"]
        robust["on"] = ref
        for arm in selection["robustness"]["arms"]:
            per_seed = {}
            for s in study.seeds:
                found = _read_eval(root / ROBUST / arm["name"] / f"seed-{s}.json",
                                   _eval_key(groups[ref].folder(root, s), arm["shots"], arm["noise"], s))
                if found is not None:
                    per_seed[s] = {"test": found["test"], "parameters": 0}
                else:
                    missing.append(f"{ROBUST}/{arm['name']}/seed-{s}")
            if not per_seed or ref not in results:
                continue
            exact = {s: results[ref][s] for s in per_seed if s in results[ref]}
            comp = paired_comparison(per_seed, exact, arm["name"])
            robust["arms"].append({**arm, "label": EvalArm(**arm).label,
                                   "test": seed_summary({s: m["test"]["accuracy"] for s, m in per_seed.items()}),
                                   "exact": seed_summary({s: m["test"]["accuracy"] for s, m in exact.items()}),
                                   "difference": comp["difference"]})
    out["robustness"] = robust
    # every quantum group as a point: accuracy against qubits and parameters
    points = []
    for name, r in results.items():
        g = groups[name]
        acc = {s: m["test"]["accuracy"] for s, m in r.items()}
        points.append({"group": name, "kind": g.kind, "label": g.label or name, "qubits": facts[name]["qubits"],
                       "parameters": next(iter(r.values()))["parameters"], "test": seed_summary(acc)})
    out["points"] = points
    return out


# --------------------------------------------------------------------------------------------
# The command


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Run a declared study: a factorial or fractional-factorial design over head and training "
                     "settings, several split seeds, baselines, ablations, shots and noise (hybrid.study).")
    p.add_argument("config", metavar="CONFIG", help="study config (.toml or .json)")
    p.add_argument("--out", metavar="DIR", required=True, help="study folder (created; rerun to continue)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes, one thread each (default 1)")
    p.add_argument("--dry-run", action="store_true", help="print the design and the run count; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    from hybrid.interrupts import is_interrupt

    try:
        spec = read_spec(args.config)
        if args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
        if args.dry_run:
            print(describe_plan(plan_study(spec)))
            return EXIT_OK
        result = run_study(spec, args.out, jobs=args.jobs, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"qhybrid study: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"qhybrid study: interrupted; finished runs are kept in {args.out}: run the same command to continue",
              file=sys.stderr)
        return EXIT_SIGINT
    except SystemError as exc:  # an interrupt that landed inside a native (Numba) call
        if not is_interrupt(exc):
            raise
        print("qhybrid study: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    print(f"study {spec.name!r}: {result['finished']} of {result['planned']} runs finished in {args.out}"
          + (f"; best cell by validation loss: {result['best']}" if result["best"] else ""))
    for line in result["failed"]:
        print(f"  failed: {line}", file=sys.stderr)
    print(f"report: qhybrid report {args.out} --out {Path(args.out) / 'report.md'}")
    return 1 if result["failed"] else EXIT_OK


@dataclass(frozen=True)
class _StudyCommand:
    help: str = "run a declared study (factorial screening, baselines, ablations, shots, noise)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return _run(args)


#: The ``qhybrid study`` sub-command (entry point ``study = "hybrid.study:COMMAND"``).
COMMAND = _StudyCommand()
