"""The atomic file writer: complete files only, the user's umask, the folder synced."""

from __future__ import annotations

import json
import os
import stat

import pytest

from qsim import atomic
from qsim.atomic import atomic_write, atomic_write_json


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664), (0o000, 0o666)])
def test_files_get_the_umask_mode(tmp_path, umask, mask, mode):
    """Issue 10 finding 11: every output file was mode 0600 (mkstemp's), whatever the umask."""
    umask(mask)
    for path in (atomic_write(tmp_path / "a.bin", b"x"), atomic_write_json(tmp_path / "sub" / "b.json", {"k": 1})):
        assert stat.S_IMODE(path.stat().st_mode) == mode
    atomic_write(tmp_path / "a.bin", b"again")                       # replacing keeps the rule
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == mode
    assert json.loads((tmp_path / "sub" / "b.json").read_text()) == {"k": 1}


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    """Issue 10 finding 11: the rename was not made durable (the folder was never fsynced)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file"))
        real_fsync(fd)

    def replace(src, dst):
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic_write(tmp_path / "out.txt", "text")
    assert events == ["fsync-file", "replace", "fsync-dir"]
    assert (tmp_path / "out.txt").read_text() == "text"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]        # no temporary left behind
