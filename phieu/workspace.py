"""The workspace: one folder (``--home`` / ``PHIEU_HOME``) holding the database, stored files and secret."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.errors import NotFoundError, PhieuError
from core.settings import Settings

DEFAULT_HOME = "phieu-data"
SECRET_NAME = "secret.key"
SQLITE_NAME = "phieu.sqlite3"
SETTINGS_FILE = "settings.yaml"


@dataclass(frozen=True)
class Workspace:
    home: Path
    database_url: str
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None, database_url: str | None = None) -> Workspace:
        """Open the existing workspace at ``home``, else ``$PHIEU_HOME``, else ``./phieu-data``.

        Raises NotFoundError when there is none: a mistyped ``--home`` must not start a new workspace
        with a new secret (every printed code would then read as forged). ``phieu init`` creates one.
        """
        root = resolve_home(home)
        if not is_workspace(root):
            raise NotFoundError(
                f"Không có không gian làm việc ở {root}; kiểm tra --home / PHIEU_HOME, hoặc tạo mới bằng "
                f"`phieu --home {root} init`. / No workspace at {root}: check --home / PHIEU_HOME, "
                f"or create one with `phieu --home {root} init`."
            )
        return cls._at(root, database_url)

    @classmethod
    def create(cls, home: str | os.PathLike[str] | None = None, database_url: str | None = None) -> Workspace:
        """Create the workspace at ``home`` (folder, file store, secret), or open it when it exists already;
        an existing secret is never replaced."""
        root = resolve_home(home)
        root.mkdir(parents=True, exist_ok=True)
        ws = cls._at(root, database_url)
        ws.secret()
        return ws

    @classmethod
    def restore_target(cls, home: str | os.PathLike[str] | None = None,
                       database_url: str | None = None) -> Workspace:
        """The place a backup is restored into: made if missing, with no secret of its own (the backup's
        secret is the one that must read the printed codes)."""
        root = resolve_home(home)
        root.mkdir(parents=True, exist_ok=True)
        return cls._at(root, database_url)

    @classmethod
    def _at(cls, root: Path, database_url: str | None) -> Workspace:
        (root / "files").mkdir(exist_ok=True)
        url = database_url or os.environ.get("PHIEU_DATABASE_URL") or f"sqlite:///{root / SQLITE_NAME}"
        return cls(home=root, database_url=url, settings=_load_settings(root / SETTINGS_FILE))

    @property
    def files_dir(self) -> Path:
        """Content-addressed store of original scans and derived images."""
        return self.home / "files"

    @property
    def secret_path(self) -> Path:
        """The secret's file (every station of a round must hold the same one: docs/deploy.md)."""
        return self.home / SECRET_NAME

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def broker_url(self) -> str | None:
        """``PHIEU_BROKER_URL`` (``redis://host:6379/0``): pages are read by queue workers (docs/deploy.md);
        unset, local worker processes read them (the embedded default, no broker)."""
        return os.environ.get("PHIEU_BROKER_URL") or None

    def secret(self) -> bytes:
        """The per-workspace key that signs QR payloads; made when the workspace is created, never printed."""
        path = self.secret_path
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home or os.environ.get("PHIEU_HOME") or DEFAULT_HOME).resolve()


def is_workspace(root: Path) -> bool:
    """A folder is a workspace once it holds its secret (or the SQLite file of one made before ``init`` existed)."""
    return (root / SECRET_NAME).is_file() or (root / SQLITE_NAME).is_file()


def _load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Settings.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - any parse/validation problem is reported the same way
        raise PhieuError(f"{path}: settings file is invalid: {exc}. Fix or delete it to use defaults.") from exc
