"""What file-based sources share: one file (`path`) or a drop folder
(`folder` + `pattern`), resumable reading in bounded chunks, and moving each
finished drop-folder file to `processed/` or `failed/` (with a reason file).

A file's checkpoint is {file, sha256, rows_done, complete}: the content hash
says whether the file on disk is the one the checkpoint speaks of, so a re-run
resumes an interrupted file and skips a finished one, and a changed file is
read again from the start (unchanged rows keep their record ids).

With `snapshot: true` each file is the whole data set and keys missing from it
become deletes (connectors.snapshots); the deletes are sent after the file's
last row, before the file counts as complete.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .base import Chunk, ConnectorError, RowError, SourceRow
from .options import Schema, exactly_one_of, file_sha256, optional_path
from .snapshots import SNAPSHOT_OPTIONS, Snapshot, SnapshotRefused

# Files a drop folder never takes: our own reason/error notes, office lock
# files (~$Book.xlsx) and hidden or temporary files still being written.
_IGNORED_PREFIXES = (".", "~$")
_IGNORED_SUFFIXES = (".reason.txt", ".errors.txt", ".tmp", ".part")
# A file's error note lists at most this many bad rows (the agent keeps them all).
_MAX_NOTED_ERRORS = 1000

log = logging.getLogger("causeway.connectors")

ReadItems = Callable[[Path], Iterator[SourceRow | RowError]]

# The options of every file-based source (with ONE_FILE_OR_FOLDER as a rule).
FILESET_OPTIONS: dict[str, Schema] = {
    "path": {"type": "string", "minLength": 1, "description": "one file"},
    "folder": {"type": "string", "minLength": 1,
               "description": "a drop folder: each new file is read once, then moved to processed/ or failed/"},
    "pattern": {"type": "string", "minLength": 1, "default": "*", "description": "drop-folder file pattern"},
    "settle_seconds": {"type": "number", "minimum": 0, "default": 10,
                       "description": "leave files younger than this alone: they may still be copying"},
    **SNAPSHOT_OPTIONS,
}
ONE_FILE_OR_FOLDER = exactly_one_of(
    "path", "folder", message="give exactly one of 'path' (one file) or 'folder' (a drop folder)")


class FileSet:
    def __init__(self, what: str, options: Mapping[str, Any], base_dir: Path, identity: list[str] | None = None):
        self.path = optional_path(base_dir, options.get("path"))
        self.folder = optional_path(base_dir, options.get("folder"))
        self.pattern: str = options.get("pattern", "*")
        self.settle_seconds: float = options.get("settle_seconds", 10)
        self.what = what
        self.snapshot = Snapshot(what, options, base_dir, identity) if options.get("snapshot") else None
        if self.snapshot is None and "max_delete_percent" in options:
            raise ConnectorError(f"{what}: option 'max_delete_percent' applies only with snapshot: true")

    @property
    def drop_folder(self) -> bool:
        return self.folder is not None

    @property
    def drop(self) -> Path:
        """The drop folder; only asked for when there is one."""
        if self.folder is None:
            raise ConnectorError(f"{self.what}: reads one file ({self.path}), not a drop folder")
        return self.folder

    @property
    def processed_dir(self) -> Path:
        return self.drop / "processed"

    @property
    def failed_dir(self) -> Path:
        return self.drop / "failed"

    def check(self) -> str:
        if self.path is not None:
            if not self.path.is_file():
                raise ConnectorError(f"{self.what}: file {self.path} not found")
            if not os.access(self.path, os.R_OK):
                raise ConnectorError(f"{self.what}: file {self.path} is not readable")
            return f"file {self.path}"
        if not self.drop.is_dir():
            raise ConnectorError(f"{self.what}: drop folder {self.drop} not found")
        for sub in (self.processed_dir, self.failed_dir):
            sub.mkdir(exist_ok=True)
            if not os.access(sub, os.W_OK):
                raise ConnectorError(f"{self.what}: cannot write to {sub} (finished files are moved there)")
        return f"drop folder {self.drop} ({len(self.pending())} file(s) waiting matching {self.pattern!r})"

    def pending(self) -> list[Path]:
        if self.path is not None:
            if not self.path.is_file():
                raise ConnectorError(f"{self.what}: file {self.path} not found")
            return [self.path]
        settled_before = time.time() - self.settle_seconds
        found = []
        for candidate in self.drop.glob(self.pattern):
            name = candidate.name
            if name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES) or not candidate.is_file():
                continue
            stat = candidate.stat()
            if stat.st_mtime <= settled_before:  # still being copied in otherwise
                found.append((stat.st_mtime, name, candidate))
        return [path for _, _, path in sorted(found)]

    # -- moving finished files aside

    def _move(self, path: Path, target_dir: Path) -> Path:
        target_dir.mkdir(exist_ok=True)
        target = target_dir / path.name
        if target.exists():  # the same name arrives again (e.g. a monthly return)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            target = target_dir / f"{path.stem}-{stamp}{path.suffix}"
        shutil.move(str(path), str(target))
        return target

    def _refusal_advice(self) -> str:
        once = ("accept them for one run with causeway-agent run --once --task TASK --accept-deletes "
                "(or raise max_delete_percent)")
        if self.drop_folder:
            return f"move the file from {self.failed_dir.name}/ back into the folder and {once}; its rows were sent"
        return f"{once}; the file's rows were sent, only the deletes wait"

    def mark_processed(self, path: Path, errors: list[str], error_count: int) -> None:
        if not path.exists():
            return  # already moved by an earlier commit
        target = self._move(path, self.processed_dir)
        if error_count:
            lines = [f"{error_count} row(s) of {path.name} could not be read; the other rows were sent."]
            lines += errors
            if error_count > len(errors):
                lines.append(f"... and {error_count - len(errors)} more")
            Path(f"{target}.errors.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def mark_failed(self, path: Path, reason: str) -> None:
        if not path.exists():
            return
        target = self._move(path, self.failed_dir)
        Path(f"{target}.reason.txt").write_text(reason + "\n", encoding="utf-8")

    # -- reading

    def read(self, checkpoint: dict[str, Any] | None, read_items: ReadItems, chunk_rows: int) -> Iterator[Chunk]:
        """Chunks of every pending file, in order, resuming from the checkpoint."""
        for path in self.pending():
            for chunk in self._read_file(path, checkpoint or {}, read_items, chunk_rows):
                yield chunk if self.snapshot is None else self.snapshot.keyed(chunk, chunk.checkpoint["sha256"])

    def _read_file(self, path: Path, checkpoint: dict[str, Any], read_items: ReadItems, chunk_rows: int) -> Iterator[Chunk]:
        sha = file_sha256(path)
        position: dict[str, Any] = {"file": path.name, "sha256": sha, "rows_done": 0, "complete": False}
        if checkpoint.get("file") == path.name and checkpoint.get("sha256") == sha:
            if checkpoint.get("complete"):
                if self.drop_folder:  # committed, but the move did not happen (crash)
                    yield Chunk([], dict(checkpoint), on_commit=lambda: self.mark_processed(path, [], 0))
                return
            position["rows_done"] = int(checkpoint.get("rows_done", 0))

        noted_errors: list[str] = []
        error_count = 0
        rows: list[SourceRow] = []
        errors: list[RowError] = []
        done = position["rows_done"]
        items = _explained(path, read_items(path))
        try:
            for index, item in enumerate(items):
                if index < position["rows_done"]:
                    continue  # committed by an earlier run
                if len(rows) + len(errors) >= chunk_rows:
                    # There is more to come, so this chunk is not the file's last.
                    yield Chunk(rows, {**position, "rows_done": done}, errors)
                    rows, errors = [], []
                done += 1
                if isinstance(item, RowError):
                    errors.append(item)
                    error_count += 1
                    if len(noted_errors) < _MAX_NOTED_ERRORS:
                        noted_errors.append(_describe(item))
                else:
                    rows.append(item)
        except ConnectorError as exc:
            if not self.drop_folder:
                if rows or errors:
                    yield Chunk(rows, {**position, "rows_done": done}, errors)
                raise
            reason = str(exc)
            if done:
                reason += f"\n{done} row(s) before the problem were sent."
            final = Chunk(rows, {**position, "rows_done": done, "complete": True}, errors)
            final.errors = errors + [RowError({"file": path.name}, str(exc))]
            final.on_commit = lambda: self.mark_failed(path, reason)
            yield final
            return
        finally:
            items.close()
        if self.snapshot is not None:
            read = {**position, "rows_done": done}  # every row committed; the file is not done until its deletes are
            yield Chunk(rows, read, errors)
            rows, errors = [], []
            try:
                yield from self.snapshot.deletes(path.name, sha, read, chunk_rows, self._refusal_advice())
            except SnapshotRefused as exc:
                if not self.drop_folder:
                    raise
                reason = str(exc)
                # Left incomplete: put back in the folder (its deletes accepted) it is weighed again.
                yield Chunk([], read, [RowError({"file": path.name}, reason)],
                            on_commit=lambda: self.mark_failed(path, reason))
                return
        final = Chunk(rows, {**position, "rows_done": done, "complete": True}, errors)
        if self.drop_folder:
            final.on_commit = lambda: self.mark_processed(path, noted_errors, error_count)
        yield final


def _explained(path: Path, items: Iterator[SourceRow | RowError]) -> Generator[SourceRow | RowError, None, None]:
    """The items of a file; any failure to read it becomes a ConnectorError naming the file, so a
    file no reader expected (a parser's own exception, a recursion limit) fails alone and the
    drop folder goes on with the next one instead of retrying this one for ever."""
    try:
        yield from items
    except ConnectorError:
        raise
    except Exception as exc:
        log.warning("%s could not be read", path.name, exc_info=True)
        raise ConnectorError(f"{path.name}: could not be read ({type(exc).__name__}: {exc})") from None
    finally:
        close = getattr(items, "close", None)
        if close:
            close()


def _describe(error: RowError) -> str:
    where = ", ".join(f"{k} {v}" for k, v in error.location.items() if k != "file")
    return f"{where}: {error.message}" if where else error.message
