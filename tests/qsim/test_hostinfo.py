"""Cache detection of :mod:`qsim.hostinfo` (sysfs parsing, per-CPU shares, fallbacks)."""

from __future__ import annotations

import pytest

from qsim import hostinfo


def _cache(folder, level: int, kind: str, size: str, cpus: str | None) -> None:
    folder.mkdir()
    (folder / "level").write_text(f"{level}\n")
    (folder / "type").write_text(f"{kind}\n")
    (folder / "size").write_text(f"{size}\n")
    if cpus is not None:
        (folder / "shared_cpu_list").write_text(f"{cpus}\n")


@pytest.fixture
def fake_sysfs(tmp_path, monkeypatch):
    monkeypatch.setattr(hostinfo, "CACHE_DIR", str(tmp_path))
    hostinfo.cache_sizes.cache_clear()
    yield tmp_path
    hostinfo.cache_sizes.cache_clear()


def test_sizes_are_per_cpu_shares(fake_sysfs):
    _cache(fake_sysfs / "index0", 1, "Data", "48K", "0,8")
    _cache(fake_sysfs / "index1", 1, "Instruction", "64K", "0,8")
    _cache(fake_sysfs / "index2", 2, "Unified", "2048K", "0,8")
    _cache(fake_sysfs / "index3", 3, "Unified", "32M", "0-7,16-23")
    assert hostinfo.cache_sizes() == {1: 24 * 1024, 2: 1024 * 1024, 3: 2 * 1024 * 1024}
    assert hostinfo.cache_size(2) == 1024 * 1024


def test_missing_levels_and_files_fall_back(fake_sysfs):
    _cache(fake_sysfs / "index0", 2, "Unified", "1024K", None)        # no sharing list: one CPU
    _cache(fake_sysfs / "index1", 3, "Unified", "garbage", "0")       # unreadable: skipped
    assert hostinfo.cache_sizes() == {1: hostinfo.FALLBACK_CACHE[1], 2: 1 << 20, 3: hostinfo.FALLBACK_CACHE[3]}
    with pytest.raises(ValueError, match="level-4"):
        hostinfo.cache_size(4)


def test_no_sysfs_gives_the_fallback(fake_sysfs, monkeypatch):
    monkeypatch.setattr(hostinfo, "CACHE_DIR", str(fake_sysfs / "absent"))
    assert hostinfo.cache_sizes() == hostinfo.FALLBACK_CACHE


def test_this_host_reports_positive_sizes():
    assert all(v > 0 for v in hostinfo.cache_sizes().values())
    assert hostinfo.cache_size(2) >= hostinfo.cache_size(1) // 4
