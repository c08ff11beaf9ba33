"""SST-2 reading, error paths, source selection and split protocols."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybrid import data as D
from hybrid.data import (
    DataFormatError,
    DataUnavailableError,
    load_sst2,
    load_sst2_folder,
    make_splits,
    paper_splits,
    read_tsv,
    standard_splits,
)

GOOD = 'sentence\tlabel\na "quoted" \\ sentence\t1\nanother one .\t0\n'


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _folder(tmp_path: Path, rows: dict[str, list[tuple[str, int]]] | None = None) -> Path:
    rows = rows or {
        "train": [("good film", 1), ("bad film", 0), ("great", 1)],
        "dev": [("meh", 0)],
        "test": [("fine", 1), ("awful", 0)],
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        body = "".join(f"{t}\t{y}\n" for t, y in items)
        _write(tmp_path / f"{split}.tsv", "sentence\tlabel\n" + body)
    return tmp_path


# -------------------------------------------------------------------------------- read_tsv


def test_read_tsv_keeps_quotes_and_backslashes(tmp_path):
    texts, labels = read_tsv(_write(tmp_path / "a.tsv", GOOD))
    assert texts == ['a "quoted" \\ sentence', "another one ."]
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0]


def test_read_tsv_crlf_and_no_final_newline(tmp_path):
    texts, labels = read_tsv(_write(tmp_path / "a.tsv", "sentence\tlabel\r\nx y\t1\r\nz\t0"))
    assert texts == ["x y", "z"] and labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"", None, "empty"),
        (b"\n\n", None, "empty"),
        (b"sentence\tlabel\n", None, "no data rows"),
        (b"text\tlabel\nx\t1\n", 1, "bad header"),
        (b"sentence,label\nx,1\n", 1, "bad header"),
        (b"sentence\tlabel\nx\t1\ny\t2\n", 3, "bad label '2'"),
        (b"sentence\tlabel\nx\t1\ny\tpos\n", 3, "bad label 'pos'"),
        (b"sentence\tlabel\nx\t1\ny\t\n", 3, "bad label ''"),
        (b"sentence\tlabel\nx\t1\t0\n", 2, "found 3"),
        (b"sentence\tlabel\nx 1\n", 2, "found 1"),
        (b"\xef\xbb\xbfsentence\tlabel\n\nx\t1\n\ny\t0\n\nz\t2\n", 7, "bad label '2'"),
        (b"\n\nsentence,label\nx,1\n", 3, "bad header"),
        (b"sentence\tlabel\n \t1\n", 2, "empty sentence"),
        (b"sentence\tlabel\nok\t1\nbad \xff\t0\n", 3, "UTF-8"),
    ],
)
def test_read_tsv_errors_name_file_and_line(tmp_path, content, line, fragment):
    path = _write(tmp_path / "bad.tsv", content)
    with pytest.raises(DataFormatError) as info:
        read_tsv(path)
    err = info.value
    assert err.path == path and err.line == line
    assert str(path) in str(err) and fragment in str(err)
    if line is not None:
        assert f"line {line}" in str(err)


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbfsentence\tlabel\nx y\t1\nz\t0\n",       # UTF-8 byte order mark
        b"sentence\tlabel\nx y\t1\nz\t0\n\n",                    # trailing blank line
        b"sentence\tlabel\r\nx y\t1\r\nz\t0\r\n\r\n \n",          # CRLF, blank and whitespace lines
        b"\nsentence\tlabel\nx y\t1\n\n\nz\t0",                     # blank lines before and between
    ],
)
def test_read_tsv_tolerates_bom_and_blank_lines(tmp_path, content):
    """Issue 10 finding 12: a TSV with a trailing blank line or a BOM was rejected."""
    texts, labels = read_tsv(_write(tmp_path / "a.tsv", content))
    assert texts == ["x y", "z"] and labels.tolist() == [1, 0]


def test_read_tsv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv.*--data"):
        read_tsv(tmp_path / "nope.tsv")


# -------------------------------------------------------------------------------- folders


def test_load_folder_pools_in_order(tmp_path):
    corpus = load_sst2_folder(_folder(tmp_path))
    assert len(corpus) == 6
    assert corpus.texts[:3] == ("good film", "bad film", "great")
    assert corpus.split_slices == {"train": slice(0, 3), "dev": slice(3, 4), "test": slice(4, 6)}
    test = corpus.standard_split("test")
    assert test.texts == ("fine", "awful") and test.indices.tolist() == [4, 5]
    assert [corpus.texts[i] for i in test.indices] == list(test.texts)


def test_load_folder_missing_file_and_folder(tmp_path):
    folder = _folder(tmp_path)
    (folder / "dev.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="dev.tsv"):
        load_sst2_folder(folder)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_sst2_folder(tmp_path / "absent")


def test_load_folder_reports_bad_file(tmp_path):
    folder = _folder(tmp_path)
    _write(folder / "test.tsv", "sentence\tlabel\nfine\t1\nawful\t7\n")
    with pytest.raises(DataFormatError, match=r"test\.tsv, line 3: bad label '7'"):
        load_sst2_folder(folder)


def test_source_selection_argument_then_env(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "a")
    assert load_sst2(folder).source == str(folder.resolve())
    monkeypatch.setenv(D.DATA_ENV_VAR, str(folder))
    assert load_sst2().source == str(folder.resolve())
    with pytest.raises(FileNotFoundError, match="absent"):
        load_sst2(tmp_path / "absent")


def test_no_source_and_no_download_says_how_to_pass_a_folder():
    with pytest.raises(DataUnavailableError, match=r"--data /path/to/sst2.*QHYBRID_DATA"):
        load_sst2(allow_download=False)


def test_hub_failure_says_how_to_pass_a_folder(monkeypatch):
    import huggingface_hub

    def offline(**kwargs):
        raise OSError("no network")

    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # force the file route
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(DataUnavailableError) as info:
        load_sst2()
    msg = str(info.value)
    for fragment in ("SetFit/sst2", "no network", "--data", "QHYBRID_DATA"):
        assert fragment in msg


def test_hub_file_route_parses_jsonl(tmp_path, monkeypatch):
    import huggingface_hub

    files = {}
    splits = {"train": [("a", 1), ("b", 0)], "dev": [("c", 0)], "test": [("d", 1)]}
    for name, rows in splits.items():
        p = tmp_path / D.HUB_FILES[name]
        lines = (json.dumps({"text": t, "label": y, "label_text": "x"}) + "\n" for t, y in rows)
        p.write_text("".join(lines))
        files[D.HUB_FILES[name]] = p

    def fake_download(*, repo_id, filename, repo_type, cache_dir=None):
        assert repo_id == D.HUB_DATASET and repo_type == "dataset"
        return str(files[filename])

    monkeypatch.setitem(__import__("sys").modules, "datasets", None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    corpus = load_sst2()
    assert corpus.texts == ("a", "b", "c", "d") and corpus.labels.tolist() == [1, 0, 0, 1]
    assert corpus.source == "hf://datasets/SetFit/sst2"

    files["dev.jsonl"].write_text('{"text": "c", "label": 3}\n')
    with pytest.raises(DataFormatError, match=r"dev\.jsonl, line 1: bad label"):
        load_sst2()


# -------------------------------------------------------------------------------- splits


def test_paper_split_sizes_balance_and_disjointness(sst2_corpus):
    s = paper_splits(sst2_corpus, seed=0)
    assert len(sst2_corpus) == 9613
    assert (len(s.train), len(s.validation), len(s.test)) == (435, 77, 9101)
    drawn = np.concatenate([s.train.indices, s.validation.indices])
    assert np.bincount(sst2_corpus.labels[drawn]).tolist() == [256, 256]
    everything = np.concatenate([drawn, s.test.indices])
    assert np.array_equal(np.sort(everything), np.arange(9613))
    assert np.all(np.diff(s.test.indices) > 0)  # test keeps pooled order
    for split in s:
        assert np.array_equal(split.labels, sst2_corpus.labels[split.indices])
        assert split.texts[5] == sst2_corpus.texts[split.indices[5]]
    summary = s.summary()
    assert summary["train"]["n"] == 435 and summary["protocol"] == "paper"


def test_paper_split_is_seeded(sst2_corpus):
    a, b, c = (paper_splits(sst2_corpus, seed=k) for k in (3, 3, 4))
    assert np.array_equal(a.train.indices, b.train.indices)
    assert np.array_equal(a.validation.indices, b.validation.indices)
    assert not np.array_equal(a.train.indices, c.train.indices)
    # shuffled: both labels appear in the first few rows, not 256 zeros then 256 ones
    assert 0 < a.train.labels[:50].sum() < 50


def test_standard_splits(sst2_corpus):
    s = standard_splits(sst2_corpus)
    assert (len(s.train), len(s.validation), len(s.test)) == (6920, 872, 1821)
    assert s.train.label_counts() == {0: 3310, 1: 3610}
    assert s.validation.label_counts() == {0: 428, 1: 444}
    assert s.test.label_counts() == {0: 912, 1: 909}
    assert s.test.indices[0] == 6920 + 872
    assert make_splits(sst2_corpus, "standard").protocol == "standard"


def test_split_argument_errors(tmp_path):
    corpus = load_sst2_folder(_folder(tmp_path))
    with pytest.raises(ValueError, match="label 0 has 3 sentences, fewer than per_label=4"):
        paper_splits(corpus, per_label=4)
    s = paper_splits(corpus, per_label=2, train_fraction=0.5)
    assert (len(s.train), len(s.validation), len(s.test)) == (2, 2, 2)
    with pytest.raises(ValueError, match="train_fraction"):
        paper_splits(corpus, per_label=2, train_fraction=1.0)
    with pytest.raises(ValueError, match="unknown split protocol 'kfold'"):
        make_splits(corpus, "kfold")
    with pytest.raises(KeyError, match="unknown split 'valid'"):
        corpus.standard_split("valid")
    with pytest.raises(IndexError):
        corpus.subset([0, 99], "x")
