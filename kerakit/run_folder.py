"""The run folder: where a training run keeps its config, status, checkpoints, model, history and metrics.

A run folder always says what state it is in (`status.json`: `running`, `complete` or `failed` with the reason),
so a half-finished run is never mistaken for a finished one. Every file is written to a temporary name and then
moved into place, so a crash never leaves a half-written file.

Which folder a run uses (`resolve_run_folder`):
- an explicit `run_dir` that does not exist, or is empty, is used as is;
- an explicit `run_dir` holding an unfinished run (status `running` from a process that is gone, or `failed`)
  with the same settings is **resumed** (Keras `BackupAndRestore`); with other settings it is refused;
- an explicit `run_dir` holding a complete run, or anything that is not a run folder, is refused unless
  `overwrite=True` — never overwritten silently;
- without `run_dir`, the run goes to `<runs_root>/<model>-<data>`: an unfinished run with the same settings there is
  resumed; otherwise the first free `<model>-<data>-2`, `-3`, … is used. So re-running a crashed command resumes it,
  and re-running a finished one starts a new run beside it.
"""

import datetime
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from kerakit.errors import KerakitError

STATUS_FILE = "status.json"
CONFIG_FILE = "config.json"


def write_atomic(path, data):
    """Writes `data` (str or bytes) to `path` through a temporary file in the same folder, then renames it."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_through_temporary(path, save, suffix):
    """Calls `save(temporary_path)` beside `path`, then renames it to `path`: a crash never leaves half a file.

    `suffix` ends the temporary name (Keras picks the format from it: `".keras"`, `".weights.h5"`).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{suffix}")
    try:
        save(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path, obj):
    """Writes `obj` as indented JSON, atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path):
    """Reads a JSON file; returns None if it does not exist or is unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _process_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


class RunFolder:
    """One run's folder and its status file."""

    def __init__(self, path):
        self.path = Path(path).absolute()

    def __truediv__(self, name):
        return self.path / name

    def status(self):
        """The parsed `status.json`, or None."""
        return read_json(self.path / STATUS_FILE)

    def config(self):
        """The parsed `config.json`, or None."""
        return read_json(self.path / CONFIG_FILE)

    def in_use(self):
        """True when a live process on this host says it is running in this folder."""
        status = self.status() or {}
        return (status.get("status") == "running" and status.get("host") == socket.gethostname()
                and _process_alive(status.get("pid")) and status.get("pid") != os.getpid())

    def unfinished(self):
        """True when the folder holds a run that started but did not complete (crashed, killed or failed)."""
        status = self.status() or {}
        return status.get("status") in ("running", "failed") and not self.in_use()

    def set_status(self, status, reason=None, **extra):
        """Writes `status.json`: `running` (with pid and host), `complete`, or `failed` with `reason`."""
        record = self.status() or {"started_at": _now()}
        record.update(status=status, updated_at=_now(), pid=os.getpid(), host=socket.gethostname(), **extra)
        if reason is not None:
            record["reason"] = reason
        elif status != "failed":
            record.pop("reason", None)
        if status != "running":
            record["finished_at"] = _now()
        write_json(self.path / STATUS_FILE, record)


def _differences(old, new):
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _check_writable(path):
    """Refuses a run folder that cannot be created or written, before any work starts."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise KerakitError(f"run_dir: cannot create {str(path)!r}: {str(existing)!r} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise KerakitError(f"run_dir: cannot write to {str(existing)!r} (permission denied); choose another run_dir.")


def resolve_run_folder(run_dir, runs_root, stem, settings, overwrite=False):
    """Chooses the run folder; see the module docstring. Returns `(RunFolder, resumed)`.

    Args:
        run_dir: str, PathLike or None. The folder the user asked for.
        runs_root: str or PathLike. Where automatic run folders go.
        stem: str. `<model>-<data>`, the automatic folder name.
        settings: dict. What must be equal for a run to be resumed.
        overwrite: bool. Replace an explicit `run_dir` that holds a complete run or other files.
    """
    if run_dir is not None:
        folder = RunFolder(run_dir)
        _check_writable(folder.path)
        if not folder.path.exists() or (folder.path.is_dir() and not any(folder.path.iterdir())):
            return folder, False
        if not folder.path.is_dir():
            raise KerakitError(f"run_dir: {str(folder.path)!r} exists and is a file, not a folder.")
        if folder.in_use():
            raise KerakitError(f"run_dir: {str(folder.path)!r} is in use by a running process "
                               f"(pid {folder.status().get('pid')}); wait for it or choose another run_dir.")
        previous = folder.config()
        if folder.unfinished() and previous is not None and previous.get("settings") == settings:
            return folder, True
        if not overwrite:
            status = (folder.status() or {}).get("status")
            if status is None:
                what = "files that are not a kerakit run"
            elif status == "complete":
                what = "a complete run"
            else:
                changed = _differences((previous or {}).get("settings", {}), settings)
                what = f"an unfinished run with other settings ({'; '.join(changed)})"
            raise KerakitError(f"run_dir: {str(folder.path)!r} already holds {what}; it will not be overwritten. "
                               "Choose another run_dir, or pass overwrite=True (--overwrite) to replace it.")
        shutil.rmtree(folder.path)
        return folder, False

    root = Path(runs_root)
    _check_writable(root.absolute())
    for index in range(1, 10_000):
        folder = RunFolder(root / (stem if index == 1 else f"{stem}-{index}"))
        if not folder.path.exists():
            return folder, False
        previous = folder.config()
        if folder.unfinished() and previous is not None and previous.get("settings") == settings:
            return folder, True
    raise KerakitError(f"runs_root: {str(root)!r} has no free folder name for {stem!r}; clean it up.")
