"""The workspace: one folder (``--home`` / ``PHIEU_HOME``) holding the database, stored files and secret."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.errors import PhieuError
from core.settings import Settings

DEFAULT_HOME = "phieu-data"
SETTINGS_FILE = "settings.yaml"


@dataclass(frozen=True)
class Workspace:
    home: Path
    database_url: str
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None, database_url: str | None = None) -> Workspace:
        """Open (creating if needed) the workspace at ``home``, else ``$PHIEU_HOME``, else ``./phieu-data``."""
        root = Path(home or os.environ.get("PHIEU_HOME") or DEFAULT_HOME).resolve()
        root.mkdir(parents=True, exist_ok=True)
        (root / "files").mkdir(exist_ok=True)
        url = database_url or os.environ.get("PHIEU_DATABASE_URL") or f"sqlite:///{root / 'phieu.sqlite3'}"
        return cls(home=root, database_url=url, settings=_load_settings(root / SETTINGS_FILE))

    @property
    def files_dir(self) -> Path:
        """Content-addressed store of original scans and derived images."""
        return self.home / "files"

    @property
    def secret_path(self) -> Path:
        """The secret's file (every station of a round must hold the same one: docs/deploy.md)."""
        return self.home / "secret.key"

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    def secret(self) -> bytes:
        """The per-workspace key that signs QR payloads; created on first use, never printed."""
        path = self.secret_path
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())


def _load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Settings.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - any parse/validation problem is reported the same way
        raise PhieuError(f"{path}: settings file is invalid: {exc}. Fix or delete it to use defaults.") from exc
