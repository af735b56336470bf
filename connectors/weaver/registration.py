"""The persisted `regist` result (`spk`, `secrit`; weaver-oa.md §2.1): registered once, reused by every process.

The official sample says the pair "can be saved; later calls do not need regist again", and a second regist may
rotate it (tokens applied with the old `secrit` then fail). The connector kit keeps no per-instance secret state,
so the pair lives in a JSON file only its owner can read (mode 0600), one entry per (base URL, appid), written
atomically; the connection may also carry it (extras `spk`, `secret`) when an administrator registered by hand.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Registration:
    spk: str = field(repr=False)
    secrit: str = field(repr=False)


class RegistrationFile:
    """`{"<base url> <appid>": {"spk", "secrit"}}` in `path`; a lock serializes this process's writers."""

    _lock = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @staticmethod
    def _key(base_url: str, appid: str) -> str:
        return f"{base_url.rstrip('/')} {appid}"

    def _entries(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: register again (and overwrite it)
        return data if isinstance(data, dict) else {}

    def load(self, base_url: str, appid: str) -> Registration | None:
        entry = self._entries().get(self._key(base_url, appid))
        if isinstance(entry, dict) and isinstance(entry.get("spk"), str) and isinstance(entry.get("secrit"), str):
            return Registration(entry["spk"], entry["secrit"])
        return None

    def save(self, base_url: str, appid: str, registration: Registration) -> None:
        with self._lock:
            entries = self._entries()
            entries[self._key(base_url, appid)] = {"spk": registration.spk, "secrit": registration.secrit}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(entries, out)
            os.replace(temp, self.path)
