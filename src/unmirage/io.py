"""Small file helpers: atomic writes (a crash never leaves half a file), JSON and JSONL."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import DataError


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before it replaces the old file
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield the records of a JSONL file; a truncated last line (an interrupted append) is skipped."""
    for _, record in numbered_jsonl(path):
        yield record


def numbered_jsonl(path: str | Path, strict: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, record) of each line of a JSONL file (none if it does not exist); a truncated
    last line (an interrupted append) is skipped unless `strict` (a file written whole), any other
    line that is not JSON is a `DataError`."""
    path = Path(path)
    if not path.is_file():
        return
    lines = path.read_bytes().splitlines()  # decoded line by line: a cut can split a character
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            yield i + 1, json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if i == len(lines) - 1 and not strict:
                return
            why = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8"
            raise DataError(f"{path}:{i + 1}: not valid JSON ({why}); fix or regenerate the file") from e


def append_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Append records, one per line. A last line without its newline is the remains of an append
    a kill cut short (readers skip it): it is cut off first, or the next record would be glued to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another process appending to the same file (a shared cache) waits
        try:
            _repair_last_line(path)
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _repair_last_line(path: Path) -> None:
    """A last line without its newline: given its newline if it is a whole record (the kill came
    between the two), else cut off (the kill cut the record, which readers skip and ask again)."""
    if path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        start = data.rfind(b"\n") + 1  # 0 when the last line is the only one
        try:
            json.loads(data[start:].decode("utf-8"))
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
        except (json.JSONDecodeError, UnicodeDecodeError):
            f.truncate(start)


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


_CHUNK = 1 << 20


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, inode: int, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, computed once per version of the file (inode, size, modification time)."""
    st = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
