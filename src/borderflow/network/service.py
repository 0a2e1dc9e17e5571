"""Network use cases: parse and check documents, publish versions, read the one in force."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from borderflow import audit
from borderflow.domain import network_diff
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.errors import N_, Conflict, FieldError, NotFound, ValidationFailed, msg
from borderflow.jsondoc import merge_patch, parse_checked, read_yaml_file
from borderflow.store.models import NetworkVersion

_adapter: TypeAdapter[Network] = TypeAdapter(Network)
_cache: dict[int, Network] = {}

FIRST_EFFECTIVE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
"""The first network ever loaded is in force from this instant unless told otherwise."""

SECTIONS = ("gates", "calendars", "staging_areas", "corridors", "goods", "procedures",
            "reason_codes")
PAST_TOLERANCE = timedelta(minutes=5)
_MISSING = {
    "gates": N_("no gate '{code}' in the network in force"),
    "calendars": N_("no calendar '{code}' in the network in force"),
    "staging_areas": N_("no staging area '{code}' in the network in force"),
    "corridors": N_("no corridor '{code}' in the network in force"),
    "goods": N_("no goods group '{code}' in the network in force"),
    "procedures": N_("no procedure '{code}' in the network in force"),
    "reason_codes": N_("no reason code '{code}' in the network in force"),
}
"""What is said when a section has no entry with the code asked for."""


def parse(document: Any) -> Network:
    """A network document (as loaded from YAML or JSON) checked into a :class:`Network`."""
    return parse_checked(_adapter, document, "network")


def dump(network: Network) -> dict[str, Any]:
    """The network as a JSON-compatible document (the file format)."""
    data: dict[str, Any] = _adapter.dump_python(network, mode="json")
    return data


def read_file(path: Path) -> dict[str, Any]:
    return read_yaml_file(path)


def to_yaml(network: Network) -> str:
    return yaml.safe_dump(dump(network), allow_unicode=True, sort_keys=False, width=100)


def _sha(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def publish(
    session: Session,
    network: Network,
    *,
    actor: Principal,
    now: datetime,
    effective_from: datetime | None = None,
    note: str = "",
    allow_past: bool = False,
) -> NetworkVersion:
    """Store a new version, in force from ``effective_from`` (default: now), and audit it."""
    first = session.scalar(select(NetworkVersion.id).limit(1)) is None
    if effective_from is None:
        effective_from = FIRST_EFFECTIVE_FROM if first else now
    if effective_from.tzinfo is None:
        raise ValidationFailed([FieldError("effective_from",
                                           msg("give a timezone (e.g. +07:00)"))])
    if not allow_past and not first and effective_from < now - PAST_TOLERANCE:
        raise ValidationFailed(
            [FieldError("effective_from",
                        msg("must not be in the past: history is not rewritten"))]
        )
    previous = version_in_force(session, effective_from)
    document = dump(network)
    row = NetworkVersion(
        version=network.version,
        effective_from=effective_from,
        document=document,
        sha256=_sha(document),
        note=note,
        created_at=now,
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="network.publish",
        target_type="network_version",
        target_id=str(row.id),
        at=now,
        before=None if previous is None else {"id": previous.id, "version": previous.version,
                                              "sha256": previous.sha256},
        after={"id": row.id, "version": row.version, "sha256": row.sha256,
               "effective_from": effective_from.isoformat(), "note": note,
               "changes": diff_summary(previous.document if previous else None, document)},
    )
    _cache[row.id] = network
    return row


def version_in_force(session: Session, at: datetime) -> NetworkVersion | None:
    """The version in force at ``at``. Its document is read when first used (within the
    session): :func:`network_of` mostly has it parsed already, and reading it is most of the
    query's cost."""
    return session.scalar(
        select(NetworkVersion)
        .options(defer(NetworkVersion.document))
        .where(NetworkVersion.effective_from <= at)
        .order_by(NetworkVersion.effective_from.desc(), NetworkVersion.id.desc())
        .limit(1)
    )


def network_of(row: NetworkVersion) -> Network:
    cached = _cache.get(row.id)
    if cached is None:
        cached = _adapter.validate_python(row.document)
        _cache[row.id] = cached
    return cached


def network_at(session: Session, at: datetime) -> tuple[NetworkVersion, Network]:
    row = version_in_force(session, at)
    if row is None:
        raise NotFound(msg("no reference network is loaded; run `borderflow network load "
                           "FILE`"))
    return row, network_of(row)


def in_force(session: Session, at: datetime) -> Network:
    """The network in force at ``at`` (404 if none is loaded)."""
    return network_at(session, at)[1]


def in_force_or_none(session: Session, at: datetime) -> Network | None:
    """The network in force at ``at``, or ``None`` (reads that can do without it)."""
    row = version_in_force(session, at)
    return network_of(row) if row is not None else None


def versions(session: Session) -> list[NetworkVersion]:
    return list(
        session.scalars(
            select(NetworkVersion).order_by(NetworkVersion.effective_from, NetworkVersion.id)
        ).all()
    )


def get_version(session: Session, version_id: int) -> NetworkVersion:
    row = session.get(NetworkVersion, version_id)
    if row is None:
        raise NotFound(msg("no network version {number}", number=str(version_id)))
    return row


def patch_entity(
    session: Session,
    section: str,
    code: str,
    patch: dict[str, Any],
    *,
    actor: Principal,
    now: datetime,
    effective_from: datetime | None,
    note: str = "",
    version: str | None = None,
) -> NetworkVersion:
    """Change one gate, calendar, staging area, corridor or goods group from a stated time.

    The new version is the version in force at ``effective_from`` with the patch applied.
    """
    if section not in SECTIONS:
        raise NotFound(msg("unknown network section '{section}'; sections: {sections}",
                           section=section, sections=list(SECTIONS)))
    when = effective_from or now
    base_row, _ = network_at(session, when)
    document = json.loads(json.dumps(base_row.document))
    items: list[dict[str, Any]] = document.get(section, [])
    index = next((i for i, item in enumerate(items) if item.get("code") == code), None)
    if index is None:
        raise NotFound(msg(_MISSING[section], code=code))
    if "code" in patch and patch["code"] != code:
        raise ValidationFailed([FieldError("code",
                                           msg("codes cannot be changed; add a new entry"))])
    items[index] = merge_patch(items[index], patch)
    document[section] = items
    if version:
        document["version"] = version
    try:
        network = parse(document)
    except ValidationFailed as exc:
        prefix = f"{section}[{index}]."
        raise ValidationFailed(
            [FieldError(f.field.removeprefix(prefix), f.reason) for f in exc.fields]
        ) from None
    return publish(session, network, actor=actor, now=now, effective_from=when, note=note)


def diff_summary(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Which entries were added, removed or changed, per section (for the audit log)."""
    if before is None:
        return ["initial load"]
    out: list[str] = []
    for section in SECTIONS:
        old = {i["code"]: i for i in before.get(section, [])}
        new = {i["code"]: i for i in after.get(section, [])}
        out += [f"{section}: added {c}" for c in new.keys() - old.keys()]
        out += [f"{section}: removed {c}" for c in old.keys() - new.keys()]
        out += [f"{section}: changed {c}" for c in new.keys() & old.keys() if new[c] != old[c]]
    return sorted(out)


# --- publishing from the admin's page: read, preview, confirm ----------------------------------


def read_text(text: str, field: str = "document") -> dict[str, Any]:
    """A document typed or uploaded as YAML or JSON (JSON is YAML), or a 422 at ``field``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = str(mark.line + 1) if mark is not None else "?"
        raise ValidationFailed([FieldError(field, msg(
            "not a YAML or JSON document (line {line})", line=line))]) from None
    if not isinstance(doc, dict):
        raise ValidationFailed([FieldError(field, msg(
            "give the whole document: a mapping of its fields, as in the file"))])
    return doc


@dataclass(frozen=True)
class Preview:
    """What publishing a document would change against the version in force now: the
    checked network, its canonical document, the version it replaces and the changes."""

    network: Network
    document: dict[str, Any]
    sha256: str
    base: NetworkVersion | None
    changes: list[network_diff.Change]


def preview(session: Session, document: Any, *, now: datetime) -> Preview:
    """Check a whole network document and compare it with the version in force now."""
    network = parse(document)
    new = dump(network)
    base = version_in_force(session, now)
    changes = network_diff.diff(base.document if base is not None else {}, new)
    return Preview(network, new, _sha(new), base, changes)


def publish_previewed(session: Session, document: Any, *, seen_base: int | None,
                      actor: Principal, now: datetime, note: str = ""
                      ) -> tuple[NetworkVersion, bool]:
    """Publish a previewed document, in force now; ``seen_base`` is the version the preview
    compared it with. The same document sent again (a retry) publishes nothing and returns
    the version in force (False); a version published by someone else since the preview is
    refused (409): the admin looks at the changes again."""
    seen = preview(session, document, now=now)
    if seen.base is not None and seen.base.sha256 == seen.sha256:
        return seen.base, False
    if (seen.base.id if seen.base is not None else None) != seen_base:
        raise Conflict(msg("another network version was published since your preview; "
                           "look at the changes again"), code="stale_preview")
    if not seen.changes:
        raise ValidationFailed([FieldError("document", msg("nothing changes"))])
    return publish(session, seen.network, actor=actor, now=now, note=note), True
