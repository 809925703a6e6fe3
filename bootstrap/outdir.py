"""Write a set of files into a user's folder: all of them or none, and no stale leftovers.

Used by ``python -m bootstrap render --out`` and ``local --dir``. The files are first written
into a staging folder inside the target (same filesystem), each with its final mode; only
when every one was written are they moved into place with ``os.replace``. A manifest
(``layout.OUTPUT_MANIFEST``) lists what llmhost wrote last time, so files an earlier render
produced and this one does not (``idle-stop.sh`` after idle stop was turned off) are removed;
files llmhost did not write are never touched.

Every problem (a path under a file, a read-only or full filesystem, no permission, ``/proc``)
is an ``OutputError`` with one line that names the option and the folder.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bootstrap import layout

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "it exists and is not a folder",
    errno.ENOENT: "a part of the path does not exist and cannot be created",
    errno.ENAMETOOLONG: "a name in the path is too long (at most 255 bytes per name, 4096 in all)",
    errno.ELOOP: "the path has too many symbolic links (a loop?)",
}


class OutputError(Exception):
    """One line: the option, the folder, what went wrong."""


@dataclass(frozen=True)
class OutFile:
    content: str
    mode: int = 0o644


def _reason(err: OSError) -> str:
    return _REASONS.get(err.errno or 0, err.strerror or str(err))


def read_manifest(folder: Path) -> set[str]:
    """Names llmhost wrote into ``folder`` last time (empty when there is no manifest)."""
    try:
        text = (folder / layout.OUTPUT_MANIFEST).read_text(encoding="utf-8")
    except OSError:
        return set()
    return {n for n in text.splitlines()[1:] if n and "/" not in n and n not in (".", "..")}


def check_folder(folder: Path, option: str) -> None:
    """Raise ``OutputError`` (one line naming ``option``) when ``folder`` is a file or lies under one.

    Cheap and side-effect free: callers run it before slower checks (``local`` before Docker),
    so the first complaint is about the argument that is wrong.
    """
    where = f"{option} {folder}"
    try:  # Path.exists raises (Python 3.11) for a name over NAME_MAX or a symlink loop
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{where}: it exists and is not a folder; name a folder")
        for p in reversed([folder, *folder.parents]):
            if p.exists() and not p.is_dir():
                raise OutputError(f"{where}: {p} is a file, not a folder; name a folder")
    except OSError as err:
        raise OutputError(f"{where}: {_reason(err)}; name another folder") from None


def write_all(folder: Path, files: Mapping[str, OutFile], option: str) -> list[Path]:
    """Write ``files`` (name -> content and mode) into ``folder``; raise ``OutputError``.

    Returns the written paths. On any error nothing of this run is left behind: no partial
    file, no staging folder, and a folder this call created is removed again.
    """
    where = f"{option} {folder}"
    check_folder(folder, option)
    created: Path | None = None
    try:
        if not folder.is_dir():
            created = next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)
            folder.mkdir(parents=True)
        staging = Path(tempfile.mkdtemp(prefix=".llmhost-staging-", dir=folder))
    except OSError as err:
        _remove_created(created)
        raise OutputError(f"{where}: cannot create it: {_reason(err)}") from None
    old = read_manifest(folder)
    names = sorted(files)
    try:
        current = layout.OUTPUT_MANIFEST
        try:
            for current in names:
                _write_file(staging / current, files[current].content, files[current].mode)
            current = layout.OUTPUT_MANIFEST
            manifest = "# files written by llmhost (bootstrap/outdir.py); others are left alone\n"
            _write_file(staging / current, manifest + "".join(n + "\n" for n in names), 0o644)
        except OSError as err:
            raise OutputError(f"{where}: cannot write {current}: {_reason(err)}; nothing was changed") from None
        for name in [*names, layout.OUTPUT_MANIFEST]:  # os.replace cannot put a file over a folder: ask first,
            target = folder / name  # so that no file is moved before the one that fails
            if target.is_dir() and not target.is_symlink():
                raise OutputError(
                    f"{where}: cannot write {name}: a folder of that name is in the way; "
                    "move or remove it, nothing was changed"
                )
        for name in names:  # `render --out .` in a project with its own compose.yaml replaced it
            target = folder / name
            if name not in old and _someone_elses(target, files[name].content):
                raise OutputError(
                    f"{where}: {name} is already there and llmhost did not write it (it is not listed in "
                    f"{layout.OUTPUT_MANIFEST}); move it away or name another folder, nothing was changed"
                )
        try:
            for name in names:
                os.replace(staging / name, folder / name)
            for stale in sorted(old - set(names)):
                target = folder / stale
                if target.is_file() and not target.is_symlink():
                    target.unlink()
            os.replace(staging / layout.OUTPUT_MANIFEST, folder / layout.OUTPUT_MANIFEST)
        except OSError as err:
            raise OutputError(f"{where}: cannot move the files into place: {_reason(err)}") from None
    except OutputError:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return [folder / n for n in names]


def _someone_elses(path: Path, content: str) -> bool:
    """Whether ``path`` is a file that an earlier llmhost render cannot have written: another text,
    with no "llmhost" in its first 512 bytes (every rendered file names llmhost in its header; a render
    from before the manifest existed is recognised by that). A missing, empty or unreadable file is not."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as handle:
            head = handle.read(512)
        return bool(head) and b"llmhost" not in head.lower() and path.read_bytes() != content.encode("utf-8")
    except OSError:
        return False


def _write_file(path: Path, content: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
        data = content.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_created(created: Path | None) -> None:
    """Remove the folders this run created (empty ones only)."""
    if created is None:
        return
    for path in sorted((p for p in created.rglob("*") if p.is_dir()), reverse=True):
        try:
            path.rmdir()
        except OSError:
            return
    try:
        created.rmdir()
    except OSError:
        pass
