"""Run folders as one artifact: checked before any work, written aside, renamed into place whole.

A run folder ``<out>`` (``config.json``, ``metrics.json``, a checkpoint, maybe ``body/``) is never
written file by file in place.  :class:`RunFolder` gives a training run:

* ``<out>.lock``: a lock file created with ``O_CREAT | O_EXCL`` (``os.link`` of a complete temporary
  file) holding ``"<pid> <host>"``; a second writer of the same ``<out>`` is refused.  A lock whose
  process is gone (same host, pid not running) is stale and taken over.
* ``<out>.partial/``: the staging folder.  Training writes its resumable state there after every
  epoch (``resume.pt``, :func:`hybrid.checkpoints.save_training_state`), an end-to-end fine-tuned run
  its ``body/``; the finished run's files are written there and the folder is then renamed to
  ``<out>``.  ``--resume`` continues from it.
* an interrupted run's best-so-far model is written into a fresh ``<out>.tmp-XXXX`` sibling and
  renamed to ``<out>``, while ``<out>.partial/`` keeps the state to resume from.

Replacing an existing ``<out>`` (``overwrite``, or a resumed run over its interrupted folder) takes two
renames (``<out>`` aside to ``<out>.old-XXXX``, the new folder in, then the old one is deleted): a
reader sees the old folder or the new one, never a mix (between the renames, briefly, none).

:func:`check_out_dir` does the checks up front (before data loading or training): the location can be
created and written, an existing run is not replaced without ``overwrite`` or ``resume``, nobody else
is writing it.  Every refusal is a :class:`RunFolderError` (a ``ValueError``) of one line naming the path.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from qsim.atomic import current_umask, fsync_folder

__all__ = [
    "LOCK_SUFFIX",
    "MIN_FREE_BYTES",
    "PARTIAL_SUFFIX",
    "RESUME_FILE",
    "RunFolder",
    "RunFolderError",
    "check_out_dir",
    "read_status",
]

logger = logging.getLogger(__name__)

LOCK_SUFFIX, PARTIAL_SUFFIX = ".lock", ".partial"
#: The resumable training state inside ``<out>.partial/``.
RESUME_FILE = "resume.pt"
#: Files that make a folder a run folder (one is enough to call it one: ``--overwrite`` replaces
#: only run folders and empty folders, never an unrelated folder given as ``--out`` by mistake).
RUN_MARKERS = ("config.json", "metrics.json", "checkpoint.pt", "model.npz")
#: Free space below which the output location is refused up front (a run folder of a head is a
#: few hundred kB; a fine-tuned body about 90 MB is checked again when it is written).
MIN_FREE_BYTES = 16 << 20
#: An unreadable (empty) lock file older than this is stale: its writer died between creating and
#: filling it.
EMPTY_LOCK_STALE_S = 60.0
#: ``status`` of a run in ``metrics.json``.
STATUS_FINISHED, STATUS_INTERRUPTED = "finished", "interrupted"


class RunFolderError(ValueError):
    """The output location cannot take this run (one line naming the path)."""


def _sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


def _absolute(out: str | os.PathLike[str]) -> Path:
    p = Path(os.path.abspath(os.path.expanduser(os.fspath(out))))
    if p.parent == p:
        raise RunFolderError(f"{os.fspath(out)!r} cannot be a run folder (it is the file-system root)")
    return p


def read_status(folder: Path) -> str | None:
    """``status`` of the run in ``folder``: ``"finished"``, ``"interrupted"`` or ``None`` (no readable
    ``metrics.json``).  Runs written before statuses existed count as finished."""
    path = folder / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict):
        return None
    return str(metrics.get("status", STATUS_FINISHED))


def _is_run_folder(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_MARKERS)


def _is_empty_dir(folder: Path) -> bool:
    try:
        return folder.is_dir() and not any(folder.iterdir())
    except OSError:
        return False


def _check_location(out: Path, shown: str) -> None:
    """``out``'s parent exists or can be created (its nearest existing ancestor is a writable folder)
    and has some free space.  Nothing is created here (a usage error found later leaves no folder)."""
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {shown}: exists and is not a folder")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunFolderError(f"--out {shown}: cannot create it, {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {shown}: cannot create it, {ancestor} is not writable")
    try:
        free = shutil.disk_usage(ancestor).free
    except OSError:
        free = None
    if free is not None and free < MIN_FREE_BYTES:
        raise RunFolderError(f"--out {shown}: only {free / 2**20:.1f} MiB free on the file system of {ancestor} "
                             f"(at least {MIN_FREE_BYTES >> 20} MiB needed)")


def _lock_holder(lock: Path) -> tuple[int, str] | None:
    try:
        pid_text, host = lock.read_text(encoding="utf-8").split()
        return int(pid_text), host
    except (OSError, ValueError):
        return None


def _holder_alive(lock: Path) -> tuple[bool, str]:
    """Whether the lock's writer may still run, and who it is (for the message)."""
    holder = _lock_holder(lock)
    if holder is None:
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return False, "nobody"
        return age < EMPTY_LOCK_STALE_S, "a process that has not written its pid yet"
    pid, host = holder
    who = f"process {pid} on {host}"
    if host != socket.gethostname():
        return True, who  # cannot check another machine's processes
    if pid == os.getpid():
        return True, f"this process ({pid})"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, who
    except PermissionError:
        return True, who
    return True, who


def check_out_dir(out: str | os.PathLike[str], *, overwrite: bool = False, resume: bool = False,
                  run_folder: bool = True) -> Path:
    """Check the output location before any work; return it as an absolute path.

    Nothing is created: the parent folders are made when the run takes its lock (:class:`RunFolder`).

    Args:
        out: the run folder (``run_folder=True``) or a folder of runs (``run_folder=False``, e.g.
            ``--split-seeds``: only the location is checked, an existing folder is reused).
        overwrite: an existing run folder (or unfinished ``<out>.partial``) may be replaced.
        resume: an existing interrupted run is continued; a finished one is read back.

    Raises:
        RunFolderError: the location cannot be created or written; ``out`` exists (and is not an
            empty folder) without ``overwrite``/``resume``; ``overwrite`` of a folder that is not a
            run folder; an unfinished ``<out>.partial`` without ``overwrite``/``resume``; another
            process holds ``<out>.lock``.
    """
    if overwrite and resume:
        raise RunFolderError("--overwrite and --resume exclude each other: replace the run or continue it")
    shown = os.fspath(out)
    path = _absolute(out)
    _check_location(path, shown)
    if not run_folder:
        return path
    lock = _sibling(path, LOCK_SUFFIX)
    if lock.exists():
        alive, who = _holder_alive(lock)
        if alive:
            raise RunFolderError(f"--out {shown}: {who} is writing this run folder (lock {lock}); wait for it, "
                                 "or remove the lock if that process is gone")
    if path.is_dir() and not _is_empty_dir(path):
        status = read_status(path)
        if overwrite:
            if not _is_run_folder(path):
                raise RunFolderError(f"--out {shown}: exists and is not a qhybrid run folder (no config.json or "
                                     "metrics.json); refusing to replace it, choose another --out")
        elif resume:
            if status is None:
                raise RunFolderError(f"--out {shown}: exists and is not a finished or interrupted qhybrid run "
                                     "(no readable metrics.json); nothing to resume, pass --overwrite to replace it")
        else:
            what = {STATUS_FINISHED: "a finished run", STATUS_INTERRUPTED: "an interrupted run"}.get(
                status, "not empty")
            hint = " or --resume to continue it" if status == STATUS_INTERRUPTED else ""
            raise RunFolderError(f"--out {shown}: already exists ({what}); pass --overwrite to replace it{hint}, "
                                 "or choose another --out")
    partial = _sibling(path, PARTIAL_SUFFIX)
    if partial.exists() and not (overwrite or resume):
        has_state = (partial / RESUME_FILE).is_file()
        raise RunFolderError(f"--out {shown}: {partial} holds an unfinished run"
                             + (" (with a checkpoint)" if has_state else "")
                             + "; pass --resume to continue it or --overwrite to discard it")
    return path


class RunFolder:
    """The write side of one run folder (a context manager holding ``<out>.lock``).

    Usage::

        with RunFolder(out, overwrite=False, resume=False) as rf:
            if rf.finished_metrics is not None:   # resume of a finished run: nothing to do
                ...
            train(..., checkpoint=rf.resume_path, staging=rf.staging)
            rf.commit(write_files)                 # or rf.commit(write_files, interrupted=True)

    On leaving, a staging folder that was not committed is deleted unless it holds a resumable state.
    """

    def __init__(self, out: str | os.PathLike[str], *, overwrite: bool = False, resume: bool = False) -> None:
        self.shown = os.fspath(out)
        self.overwrite, self.resume = bool(overwrite), bool(resume)
        self.path = _absolute(out)
        self.lock = _sibling(self.path, LOCK_SUFFIX)
        self.staging = _sibling(self.path, PARTIAL_SUFFIX)
        self.finished_metrics: dict[str, Any] | None = None
        self._locked = False

    @property
    def resume_path(self) -> Path:
        """Where the training writes its resumable state (inside the staging folder)."""
        return self.staging / RESUME_FILE

    # ------------------------------------------------------------------ lock

    def _acquire(self) -> None:
        token = f"{os.getpid()} {socket.gethostname()}\n"
        for _ in range(3):
            fd, tmp = tempfile.mkstemp(prefix=f".{self.lock.name}.", dir=self.lock.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(token)
                os.link(tmp, self.lock)  # atomic, fails if the lock exists; readers never see it half-written
                self._locked, self._token = True, token
                return
            except FileExistsError:
                alive, who = _holder_alive(self.lock)
                if alive:
                    raise RunFolderError(f"--out {self.shown}: {who} is writing this run folder (lock {self.lock}); "
                                         "wait for it, or remove the lock if that process is gone") from None
                logger.warning("taking over the stale lock %s of %s (no longer running)", self.lock, who)
                try:
                    self.lock.unlink()
                except FileNotFoundError:
                    pass
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP) and not self.lock.exists():
                    # file systems without hard links: exclusive create, then write the pid
                    try:
                        lfd = os.open(self.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    except FileExistsError:
                        continue
                    with os.fdopen(lfd, "w", encoding="utf-8") as handle:
                        handle.write(token)
                    self._locked, self._token = True, token
                    return
                raise RunFolderError(f"--out {self.shown}: cannot create the lock {self.lock} "
                                     f"({exc.strerror or exc})") from None
            finally:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        raise RunFolderError(f"--out {self.shown}: could not take the lock {self.lock} (other writers keep taking it)")

    def _release(self) -> None:
        if not self._locked:
            return
        self._locked = False
        try:
            if self.lock.read_text(encoding="utf-8") == self._token:
                self.lock.unlink()
        except OSError:
            pass

    # ------------------------------------------------------------------ context

    def __enter__(self) -> RunFolder:
        check_out_dir(self.shown, overwrite=self.overwrite, resume=self.resume)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"--out {self.shown}: cannot create {self.path.parent} "
                                 f"({exc.strerror or exc})") from None
        self._acquire()
        try:
            if self.resume and self.path.is_dir() and read_status(self.path) == STATUS_FINISHED:
                self.finished_metrics = json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))
                return self
            if self.staging.exists() and not self.resume:
                logger.info("discarding the unfinished run in %s (--overwrite)", self.staging)
                _remove(self.staging)
            if self.resume and self.staging.is_dir():
                logger.info("resuming the unfinished run in %s", self.staging)
            self.staging.mkdir(exist_ok=True)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.staging.is_dir() and not self.resume_path.is_file():
                _remove(self.staging)  # failed, or left without a commit; nothing to resume from: leave nothing
        finally:
            self._release()

    # ------------------------------------------------------------------ commit

    def commit(self, write: Callable[[Path], None], *, interrupted: bool = False) -> Path:
        """Write the run with ``write(folder)`` aside and rename it to :attr:`path` as a whole.

        A finished run is written into the staging folder (which may hold ``body/`` already), the
        folder becomes the run folder, and its resumable state is then dropped.  An interrupted run is
        written into a fresh ``<out>.tmp-XXXX`` folder, so that the staging folder keeps the state
        ``--resume`` continues from.

        Raises:
            RunFolderError: a write or rename failed (full disk, ...); the existing run folder, if
                any, is untouched and the resumable state is kept.
        """
        try:
            if interrupted:
                folder = Path(tempfile.mkdtemp(prefix=f"{self.path.name}.tmp-", dir=self.path.parent))
                try:
                    write(folder)
                    _swap_into_place(folder, self.path)
                except BaseException:
                    _remove(folder)
                    raise
            else:
                write(self.staging)
                _swap_into_place(self.staging, self.path)
                try:  # dropped only now: until the rename, a failure leaves it to resume from
                    (self.path / RESUME_FILE).unlink()
                except FileNotFoundError:
                    pass
        except OSError as exc:
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            keep = f"; the checkpoint in {self.staging} is kept (--resume)" if self.resume_path.is_file() else ""
            raise RunFolderError(f"--out {self.shown}: could not write the run folder ({exc.strerror or exc}{where})"
                                 + keep) from None
        # fix the folder's mode: mkdtemp makes 0o700, an ordinary mkdir gives 0o777 less the umask
        try:
            os.chmod(self.path, 0o777 & ~current_umask())
        except OSError:
            pass
        return self.path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _swap_into_place(src: Path, dst: Path) -> None:
    """Rename the complete folder ``src`` to ``dst``; an existing ``dst`` is moved aside first and
    deleted after (restored if the second rename fails).  SIGINT and SIGTERM are held back during
    the renames (delivered right after), so a signal cannot fall between them."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    can_block = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked) if can_block else None
    try:
        _swap(src, dst)
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _swap(src: Path, dst: Path) -> None:
    old = None
    if dst.exists() and not _is_empty_dir(dst):
        old = Path(tempfile.mkdtemp(prefix=f"{dst.name}.old-", dir=dst.parent))
        os.replace(dst, old)  # a folder onto the empty folder mkdtemp made
    elif dst.is_dir():
        dst.rmdir()
    try:
        os.replace(src, dst)
    except BaseException:
        if old is not None:
            os.replace(old, dst)
        raise
    fsync_folder(dst.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
