"""OpenVEX v0.2.0 documents for the advisories a config lists, from evidence only.

The vulns stage records a verdict per listed advisory (fixproof.vex), and
:func:`document` turns the verdicts into one OpenVEX document naming the
product by the built binary's sha256. What each status and justification
means: fixproof.vex.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable

from fixproof.vex import Verdict

CONTEXT = "https://openvex.dev/ns/v0.2.0"


def document(verdicts: Iterable[Verdict], *, binary_name: str, sha256: str, author: str = "fixproof",
             tooling: str = "fixproof", now: datetime | None = None) -> dict[str, Any]:
    """One OpenVEX document; its @id is derived from its statements (same evidence, same id)."""
    product = {"@id": f"pkg:generic/{binary_name}?checksum=sha256:{sha256}", "hashes": {"sha-256": sha256}}
    statements = []
    for v in sorted(verdicts, key=lambda v: v.id):
        s: dict[str, Any] = {
            "vulnerability": {"@id": f"https://pkg.go.dev/vuln/{v.id}", "name": v.id, "aliases": list(v.aliases)},
            "products": [product],
            "status": v.status,
        }
        if v.status == "not_affected":
            s["justification"] = v.justification
            s["impact_statement"] = v.detail
        elif v.status == "affected":
            s["action_statement"] = v.detail
        elif v.detail:
            s["status_notes"] = v.detail
        statements.append(s)
    return _wrap(statements, author=author, tooling=tooling, now=now)


def combine(documents: Iterable[dict[str, Any]], *, tooling: str = "fixproof", now: datetime | None = None
            ) -> dict[str, Any]:
    """One document holding the statements of several (the apps of a fleet, the binaries of one
    ``fixproof vulns`` call), with its own @id, timestamp and version 1."""
    return _wrap([s for d in documents for s in d.get("statements", [])], author="fixproof", tooling=tooling, now=now)


def _wrap(statements: list[dict[str, Any]], *, author: str, tooling: str, now: datetime | None) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(statements, sort_keys=True).encode()).hexdigest()
    stamp = (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {"@context": CONTEXT, "@id": f"urn:fixproof:vex:{digest}", "author": author, "timestamp": stamp,
            "version": 1, "tooling": tooling, "statements": statements}
