"""Data-use agreements (数据利用协议): versioned texts per dataset, and their acceptances.

An agreement version is immutable: publishing new text adds a version. Its SHA-256 is
taken over the UTF-8 bytes of the text, so an applicant proves it accepted exactly the
text it read by sending back ``agreement_sha256``. Acceptances are stored with the hash
and the time, per application.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway import state
from gateway.clock import now as _now
from gateway.clock import rfc3339 as _rfc3339
from gateway.errors import Conflict, NotFound, Unprocessable

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

agreements = sa.Table(
    "agreements",
    state.metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.String(64), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("published_by", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

acceptances = sa.Table(
    "agreement_acceptances",
    state.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("application_id", sa.String(32), nullable=False, index=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("principal_id", sa.String(64), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("agreement_id", sa.String(64), nullable=False),
    sa.Column("agreement_version", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Agreement:
    """One immutable version of a dataset's data-use agreement."""

    id: str
    version: int
    dataset_id: str
    title: str
    text: str
    sha256: str
    created_at: dt.datetime

    def to_json(self, *, with_text: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "version": self.version,
                               "dataset_id": self.dataset_id, "title": self.title,
                               "sha256": self.sha256, "created_at": _rfc3339(self.created_at)}
        if with_text:
            doc["text"] = self.text
        return doc


def agreement_sha256(text: str) -> str:
    """The hash an applicant sends back to accept ``text``: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _from_row(row: Any) -> Agreement:
    return Agreement(id=row.id, version=row.version, dataset_id=row.dataset_id,
                     title=row.title, text=row.text, sha256=row.sha256,
                     created_at=row.created_at)


def publish_agreement(engine: sa.Engine, agreement_id: str, dataset_id: str, title: str,
                      text: str, *, by: str | None = None) -> Agreement:
    """Add the next version of an agreement (version 1 when new). One agreement id
    belongs to one dataset for all its versions."""
    if not _ID_RE.fullmatch(agreement_id):
        raise Unprocessable("agreement id must match [A-Za-z0-9][A-Za-z0-9_.-]*",
                            code="invalid_agreement")
    if not text.strip() or not title.strip():
        raise Unprocessable("an agreement needs a title and a text", code="invalid_agreement")
    with engine.begin() as conn:
        last = conn.execute(sa.select(agreements.c.version, agreements.c.dataset_id)
                            .where(agreements.c.id == agreement_id)
                            .order_by(agreements.c.version.desc()).limit(1)).first()
        if last is not None and last.dataset_id != dataset_id:
            raise Conflict(f"agreement {agreement_id!r} belongs to dataset {last.dataset_id!r}",
                           code="agreement_other_dataset")
        made = Agreement(id=agreement_id, version=(last.version + 1) if last else 1,
                         dataset_id=dataset_id, title=title, text=text,
                         sha256=agreement_sha256(text), created_at=_now())
        conn.execute(sa.insert(agreements).values(
            id=made.id, version=made.version, dataset_id=made.dataset_id, title=made.title,
            text=made.text, sha256=made.sha256, published_by=by, created_at=made.created_at))
    return made


def get_agreement(engine: sa.Engine, agreement_id: str,
                  version: int | None = None) -> Agreement:
    """One version of an agreement; the latest when ``version`` is None."""
    q = sa.select(agreements).where(agreements.c.id == agreement_id)
    if version is not None:
        q = q.where(agreements.c.version == version)
    with engine.connect() as conn:
        row = conn.execute(q.order_by(agreements.c.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"no agreement {agreement_id!r}"
                       + (f" version {version}" if version is not None else ""),
                       code="unknown_agreement")
    return _from_row(row)


def list_agreements(engine: sa.Engine, dataset_id: str | None = None) -> list[Agreement]:
    """The latest version of every agreement (of one dataset when given)."""
    q = sa.select(agreements).order_by(agreements.c.id, agreements.c.version)
    if dataset_id is not None:
        q = q.where(agreements.c.dataset_id == dataset_id)
    with engine.connect() as conn:
        latest = {r.id: r for r in conn.execute(q)}
    return [_from_row(r) for r in latest.values()]


def check_acceptance(conn: sa.Connection, dataset_id: str, agreement_id: str, version: int,
                     sha256: str) -> None:
    """Refuse (422) unless the named version is the dataset's current agreement and the
    hash matches its text."""
    rows = conn.execute(sa.select(agreements).where(agreements.c.id == agreement_id)
                        .order_by(agreements.c.version.desc())).all()
    named = next((r for r in rows if r.version == version), None)
    if named is None:
        raise Unprocessable(f"no agreement {agreement_id!r} version {version}",
                            code="unknown_agreement")
    if named.dataset_id != dataset_id:
        raise Unprocessable(f"agreement {agreement_id!r} is not for dataset {dataset_id!r}",
                            code="agreement_not_for_dataset")
    if rows[0].version != version:
        raise Unprocessable(f"agreement {agreement_id!r} version {version} was superseded by "
                            f"version {rows[0].version}; read and accept the current text",
                            code="agreement_outdated")
    if not hmac.compare_digest(named.sha256, sha256.lower()):
        raise Unprocessable(f"agreement_sha256 does not match agreement {agreement_id!r} "
                            f"version {version}", code="agreement_mismatch")


def record_acceptance(conn: sa.Connection, *, application_id: str, revision: int,
                      principal_id: str, dataset_id: str, agreement_id: str, version: int,
                      sha256: str) -> None:
    """Store that ``principal_id`` accepted this agreement version for an application."""
    conn.execute(sa.insert(acceptances).values(
        application_id=application_id, revision=revision, principal_id=principal_id,
        dataset_id=dataset_id, agreement_id=agreement_id, agreement_version=version,
        sha256=sha256.lower(), accepted_at=_now()))


def acceptances_of(engine: sa.Engine, application_id: str) -> list[dict[str, Any]]:
    """Every acceptance recorded for an application, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(acceptances)
                            .where(acceptances.c.application_id == application_id)
                            .order_by(acceptances.c.id)).all()
    return [{"revision": r.revision, "principal_id": r.principal_id, "dataset_id": r.dataset_id,
             "agreement_id": r.agreement_id, "agreement_version": r.agreement_version,
             "sha256": r.sha256, "accepted_at": _rfc3339(r.accepted_at)} for r in rows]
