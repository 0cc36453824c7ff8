"""Waivers: accepted vulnerabilities, each with a reason and an expiry date.

A TOML file of ``[[waiver]]`` tables::

    [[waiver]]
    id = "GO-2024-2963"            # a GO id, or one of its aliases (CVE/GHSA)
    reason = "client never talks to untrusted servers; fix ships in 2.4"
    expires = 2026-12-31           # TOML date (or "YYYY-MM-DD"); valid through that day
    approved_by = "security@example.com"

``id``, ``reason`` and ``expires`` are required, ``approved_by`` is
optional; unknown keys are errors (a typo must not silently widen a waiver).
Any problem raises :class:`ConfigError` naming the file and the entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from fixproof.errors import ConfigError

_KEYS = {"id", "reason", "expires", "approved_by"}


@dataclass(frozen=True)
class Waiver:
    """One accepted vulnerability: its id, why, until when, and who approved it."""

    id: str
    reason: str
    expires: dt.date
    approved_by: str = ""

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "expires": self.expires.isoformat(), "approved_by": self.approved_by}


@dataclass(frozen=True)
class Decision:
    """What the waivers say about one advisory: the waiver applied, or the expired one."""

    waiver: Waiver | None = None
    expired: Waiver | None = None


@dataclass(frozen=True)
class Waivers:
    """The waivers of one file (source: its path, "" when there is none)."""

    source: str
    items: tuple[Waiver, ...] = ()

    def decide(self, ids: Iterable[str], today: dt.date) -> Decision:
        """``ids`` is an advisory id and its aliases; a live waiver wins over an expired one."""
        keys = set(ids)
        expired: Waiver | None = None
        for w in self.items:
            if w.id not in keys:
                continue
            if not w.expired(today):
                return Decision(waiver=w)
            expired = expired or w
        return Decision(expired=expired)


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as e:
            raise ConfigError(f"{where}: expires = {value!r} is not a date; write it as 2026-12-31.") from e
    raise ConfigError(f"{where}: expires must be a date such as 2026-12-31.")


def parse_waivers(data: Any, source: str) -> Waivers:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected [[waiver]] tables.")
    extra = set(data) - {"waiver"}
    if extra:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(sorted(extra))}; only [[waiver]] is allowed.")
    raw = data.get("waiver", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: write each waiver as a [[waiver]] table.")
    items = []
    for n, w in enumerate(raw, 1):
        where = f"{source}: waiver #{n}"
        if not isinstance(w, dict):
            raise ConfigError(f"{where} is not a table.")
        unknown = set(w) - _KEYS
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}.")
        wid = w.get("id")
        if not isinstance(wid, str) or not wid.strip():
            raise ConfigError(f"{where} has no id; give the GO id or an alias it waives.")
        where = f"{source}: waiver for {wid}"
        reason = w.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where} has no reason; say why the finding is acceptable.")
        if "expires" not in w:
            raise ConfigError(f"{where} has no expires date; every waiver must expire.")
        approved = w.get("approved_by", "")
        if not isinstance(approved, str):
            raise ConfigError(f"{where}: approved_by must be a string.")
        items.append(Waiver(id=wid.strip(), reason=reason.strip(), expires=_date(w["expires"], where),
                            approved_by=approved.strip()))
    return Waivers(source=source, items=tuple(items))


def load_waivers(path: str | Path) -> Waivers:
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"waivers file {p} does not exist.") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the waivers file {p}: {e}.") from e
    import tomllib  # only when a waivers file is read

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p} is not valid TOML: {e}.") from e
    return parse_waivers(data, str(p))
