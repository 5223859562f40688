"""Atomic file writes: a reader sees the old file or the complete new one, never half of one.

Data goes to a temporary file in the target's own folder (so the final ``os.replace``
stays on one file system and is atomic), is flushed to disk, then renamed over the
target. Temporary names start with ``.`` and end with :data:`PARTIAL_SUFFIX`, so a
file left by a killed process is hidden from folder scans and recognisable by name; the
next complete write of the same target removes it once it has lain untouched for
:data:`STALE_AFTER_SECONDS`. Any failure, ``KeyboardInterrupt`` included, removes the
temporary file.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
#: a temporary file unchanged for this long was left by a writer that died (SIGKILL, power
#: loss): a live writer fills its file as it encodes, within seconds, and a rerun after a
#: crash should not keep the leftover for long
STALE_AFTER_SECONDS = 300
#: random hex digits in a temporary name; plenty to avoid collisions in one folder
_TOKEN_BYTES = 4
#: new files get the usual permissions, narrowed by the process umask as ``open`` does
_NEW_FILE_MODE = 0o666
#: bytes of the target's name kept in a temporary name: with the dot, token and suffix it
#: stays under the 255 bytes most file systems allow a name, whatever the target's length
_KEPT_NAME_BYTES = 200


def is_partial_name(name: str) -> bool:
    """True for the names :func:`atomic_write` gives its temporary files."""
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


@contextmanager
def atomic_write(target: Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on clean exit it becomes ``target``.

    With ``replace`` false, a ``target`` that exists by then, made by anyone meanwhile, is
    kept and :class:`FileExistsError` raised: a check before a long piece of work is not
    enough, another program or run may write the same name in the meantime."""
    temp = _create_temp_file(target)
    try:
        yield temp
        _flush_to_disk(temp)
        if replace:
            os.replace(temp, target)
        else:
            _move_unless_taken(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _remove_stale_temps(target)


def _move_unless_taken(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` unless that name exists (FileExistsError)."""
    if os.name == "nt":
        os.rename(temp, target)  # Windows refuses an existing name, atomically
        return
    try:
        os.link(temp, target)  # refuses an existing name, atomically
    except FileExistsError:
        raise
    except OSError:
        # a file system without hard links (FAT, some network shares): check, then move,
        # which leaves a moment in which another writer's file could be replaced
        if target.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        os.rename(temp, target)
        return
    try:
        temp.unlink()
    except OSError as error:  # the result is complete under its name; a later write tidies
        log.warning("could not remove the temporary name %s (%s)", temp, error.strerror)


def make_folder(folder: Path, error_type: type[Exception]) -> None:
    """Create ``folder`` and the folders above it; an ``error_type`` with a one-line reason
    when the system refuses (a file in the way, no permission, a name too long)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise error_type(f"{folder} is a file, not a folder") from None
    except OSError as error:
        reason = error.strerror or error
        raise error_type(f"{folder}: cannot create the folder ({reason})") from None


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_write(target) as temp:
        temp.write_bytes(data)


def _create_temp_file(target: Path) -> Path:
    # O_EXCL: never reuse a name another writer (or a crashed run) holds.
    while True:
        token = secrets.token_hex(_TOKEN_BYTES)
        temp = target.with_name(f".{_shortened(target.name)}.{token}{PARTIAL_SUFFIX}")
        try:
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
        except FileExistsError:
            continue
        os.close(descriptor)
        return temp


def _remove_stale_temps(target: Path) -> None:
    """Delete the temporary files of ``target`` that writers killed mid-way left behind.

    Only names :func:`_create_temp_file` gives this target, and only those untouched for
    :data:`STALE_AFTER_SECONDS`, so another process writing the same file keeps its own."""
    own_name = re.compile(
        rf"\.{re.escape(_shortened(target.name))}\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}"
        rf"{re.escape(PARTIAL_SUFFIX)}"
    )
    try:
        # the file system's own clock (a network share's may differ from this machine's):
        # the target was written a moment ago
        oldest_kept = target.stat().st_mtime - STALE_AFTER_SECONDS
        siblings = list(os.scandir(target.parent))
    except OSError:
        return  # the write is done; tidying up is not worth a failure
    for entry in siblings:
        if not own_name.fullmatch(entry.name):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < oldest_kept:
                os.unlink(entry.path)
                log.info("removed an unfinished earlier write: %s", entry.path)
        except OSError:
            continue  # gone already, or not ours to remove


def _shortened(name: str) -> str:
    """``name`` cut to at most :data:`_KEPT_NAME_BYTES` bytes of UTF-8, between characters."""
    encoded = name.encode("utf-8", errors="surrogateescape")
    return encoded[:_KEPT_NAME_BYTES].decode("utf-8", errors="ignore")


def _flush_to_disk(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
