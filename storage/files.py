"""Content-addressed, write-once file store: originals and derived images, named by SHA-256.

Layout: ``root/ab/cd/<sha256><suffix>``. A file is written to a temporary name, flushed, made
read-only and renamed into place, so a reader never sees half a file and nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from core.errors import NotFoundError, StorageError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (a 1,000-page PDF is never held in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class FileStore:
    """Write-once blobs addressed by their SHA-256 (hex, lower case)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise StorageError(f"Mã băm không hợp lệ / not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4]

    def path(self, sha256: str) -> Path:
        """Where the blob lives (whatever suffix it was stored with)."""
        folder = self._dir(sha256)
        if folder.is_dir():
            for candidate in folder.iterdir():
                if candidate.name.startswith(sha256) and not candidate.name.startswith("."):
                    return candidate
        raise NotFoundError(f"Không có tệp {sha256} trong kho / file {sha256} is not in the store {self.root}")

    def exists(self, sha256: str) -> bool:
        try:
            self.path(sha256)
        except NotFoundError:
            return False
        return True

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def put_bytes(self, data: bytes, suffix: str = "", *, durable: bool = True) -> str:
        """Store ``data`` (no-op when already present) and return its SHA-256.

        ``durable=False`` skips the fsync (about 4 ms a file): for images derived from an original,
        written many times a second by the scan writer. The file still appears whole or not at all.
        """
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self._install(sha, suffix, lambda fh: fh.write(data), durable=durable)
        return sha

    def put_file(self, path: Path, suffix: str | None = None) -> str:
        """Copy the file at ``path`` unchanged into the store; the suffix defaults to the file's own."""
        path = Path(path)
        try:
            sha = sha256_file(path)
        except OSError as exc:
            raise StorageError(f"{path}: không đọc được tệp / cannot read file: {exc}") from exc
        if self.exists(sha):
            return sha

        def copy_checked(dst: BinaryIO) -> None:
            digest = hashlib.sha256()
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK_BYTES):
                    digest.update(chunk)
                    dst.write(chunk)
            if digest.hexdigest() != sha:  # checked before the copy gets its name
                raise StorageError(f"{path}: tệp thay đổi trong khi sao chép, hãy quét lại khi tệp đã ghi xong "
                                   f"/ file changed while being copied; scan it again once complete")

        self._install(sha, path.suffix.lower() if suffix is None else suffix, copy_checked)
        return sha

    def copy_in(self, path: Path, sha256: str, suffix: str, *, durable: bool = True) -> bool:
        """Copy the file at ``path``, which should hold the content named ``sha256``, reading it once;
        it gets its name only when its content matches (backups and restores). Returns False when
        the content does not match (nothing is stored); a file already present is not copied.
        ``durable=False``: no fsync per file (the caller syncs once at the end)."""
        if self.exists(sha256):
            return True

        def copy_checked(dst: BinaryIO) -> None:
            digest = hashlib.sha256()
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK_BYTES):
                    digest.update(chunk)
                    dst.write(chunk)
            if digest.hexdigest() != sha256:
                raise _Mismatch

        try:
            self._install(sha256, suffix, copy_checked, durable=durable)
        except _Mismatch:
            return False
        return True

    def _install(self, sha: str, suffix: str, write: Callable[[BinaryIO], object], *, durable: bool = True) -> None:
        folder = self._dir(sha)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
            tmp.chmod(READ_ONLY)
            target = folder / f"{sha}{suffix}"
            if self.exists(sha):  # another writer won the race: keep theirs
                tmp.unlink()
                return
            os.link(tmp, target)  # fails rather than overwrite an existing name
            tmp.unlink()
        except FileExistsError:
            tmp.unlink(missing_ok=True)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"Không ghi được vào kho tệp {folder} / cannot write to the file store: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        log.debug("stored %s%s", sha, suffix)


class _Mismatch(Exception):
    """Raised inside :meth:`FileStore.copy_in` so the temporary copy is removed, never named."""
