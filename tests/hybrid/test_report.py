"""hybrid.report: the report of a tiny study (Markdown, HTML, figures) and the ``qhybrid report`` command."""

from __future__ import annotations

import json

import pytest

from hybrid import cli
from hybrid.report import package_versions, write_report
from hybrid.study import parse_spec, run_study

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, sst2_dir, minilm_npz):
    spec = parse_spec({
        "name": "tiny-report", "seeds": [0, 1], "baselines": ["logreg", "mlp-matched"], "ablations": ["no-encoders"],
        "data": {"data": str(sst2_dir), "embeddings": str(minilm_npz), "per_label": 20, "max_test": 100},
        "base": {"train": {"epochs": 1, "patience": None}, "head_overrides": {"encoder.layers": 1}},
        "factors": [{"name": "qubits", "levels": [3, 4]}, {"name": "lr", "levels": [0.01, 0.02]}],
        "robustness": {"shots": [100, 1000], "noise": [{"p1": 1e-3, "p2": 1e-2}]}})
    root = tmp_path_factory.mktemp("study")
    result = run_study(spec, root, progress=False)
    assert not result["failed"]
    return root


def test_report_has_every_table_figure_and_the_commands(tiny_study, tmp_path):
    out = tmp_path / "rep" / "report.md"
    files = write_report(tiny_study, out, html_too=True)
    md = out.read_text()
    for heading in ("## Design", "## Cells", "## Main effects on test accuracy", "## Selection on validation loss",
                    "## Models on the same splits", "## The chosen head against every baseline", "## Ablations",
                    "## Shots and noise", "## Energy of the chosen head's circuit", "## Configuration",
                    "## Versions"):
        assert heading in md, heading
    figures = {p.name for p in (tmp_path / "rep" / "report-figures").iterdir()}
    assert figures == {"main_effects.png", "accuracy_vs_qubits.png", "accuracy_vs_parameters.png",
                       "accuracy_vs_shots.png", "accuracy_vs_noise.png"}
    for name in figures:
        assert (tmp_path / "rep" / "report-figures" / name).read_bytes().startswith(PNG)
        assert f"](report-figures/{name})" in md
    assert f"qhybrid study {tiny_study / 'spec.json'} --out {tiny_study}" in md
    assert f"qhybrid train --config {tiny_study / 'configs' / 'cell-00.json'} --split-seeds 0,1" in md
    assert "qhybrid energy --circuit paper-head" in md and "mlp-matched" in md and "100 shots" in md
    page = out.with_suffix(".html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "<table>" in page and "report-figures" not in page
    analysis = json.loads((tmp_path / "rep" / "report-analysis.json").read_text())
    # the numbers in the report are the analysis' numbers
    best = analysis["selection"]["best"]
    row = analysis["models"][f"best head ({best})"]
    assert f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}" in md
    assert set(files) >= {out, out.with_suffix(".html")}
    # the reproduce line of a cell trains what the study trained
    cfg = json.loads((tiny_study / "configs" / "cell-00.json").read_text())
    assert cfg["head_overrides"]["encoder.n_qubits"] == 3 and cfg["train"]["lr"] == 0.01


def test_report_embeds_the_energy_figure_when_present(tiny_study, tmp_path):
    (tiny_study / "energy.png").write_bytes(PNG + b"fake")
    try:
        write_report(tiny_study, tmp_path / "r.md", html_too=False)
        assert "Energy per inference of the chosen head's circuit" in (tmp_path / "r.md").read_text()
    finally:
        (tiny_study / "energy.png").unlink()


def test_package_versions_name_the_stack():
    v = package_versions()
    assert {"python", "qhybrid", "torch", "numpy", "qsim backend"} <= set(v)


def test_cli_report_and_its_errors(tiny_study, tmp_path, capsys):
    assert cli.main(["report", str(tiny_study), "--out", str(tmp_path / "x.md")]) == 0
    assert "report: " in capsys.readouterr().out and (tmp_path / "x.md").is_file()
    rc = cli.main(["report", str(tmp_path), "--out", str(tmp_path / "y.md")])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_USAGE and "is not a study folder" in err and err.count("\n") == 1
    rc = cli.main(["report", str(tiny_study), "--out", str(tmp_path / "y.txt")])
    assert rc == cli.EXIT_USAGE and "is a .md file" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    rc = cli.main(["report", str(tiny_study), "--out", str(tmp_path / "file" / "r.md")])
    assert rc == cli.EXIT_USAGE and "not a writable folder" in capsys.readouterr().err
    assert cli.main(["report", str(tiny_study), "--out", str(tmp_path / "x.md")]) == 0   # replaced as a whole
