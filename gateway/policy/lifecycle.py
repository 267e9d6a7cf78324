"""What an admin does with stored policy versions, whichever client asks (the admin API
``/admin/v1/policies``, the console's policy pages): drafts from files, edits of one
file, diffs, activation with the OPA-server push, replay and what-if of a version.

The state machine and its audit entries live in :mod:`gateway.policy.versions`, the
checks in :mod:`gateway.policy.checks`; this module composes them so that no client
holds its own copy. See docs/policy-lifecycle.md.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.audit import Recorder
from gateway.auditlog import audit_log
from gateway.auditlog.entries import parse_leaf
from gateway.errors import GatewayError, NotFound, Unprocessable
from gateway.policy import versions as pv
from gateway.policy.bundle import (
    DATA_FILE,
    PolicyBundle,
    PolicyLoadError,
    check_forbidden_builtins,
)
from gateway.policy.checks import ERROR, CheckReport, Finding, run_checks
from gateway.policy.replay import ReplaySummary, replay, what_if
from gateway.policy.samples import sample_inputs
from gateway.policy.sync import embedded_for, sync_and_check
from gateway.policy.versions import PolicyVersion

if TYPE_CHECKING:
    from gateway.services import Services


class DraftRefused(Unprocessable):
    """A draft that is never stored: a file does not parse (so its builtins cannot be
    ruled out), ``data.json`` is not a JSON object, or a forbidden builtin is called.
    ``report`` holds the findings (file:line:col) when the caller asked for them."""

    code = "draft_refused"

    def __init__(self, message: str, *, reasons: list[str] | None = None,
                 report: CheckReport | None = None) -> None:
        super().__init__(message, reasons=reasons)
        self.report = report


class NotCompilable(Unprocessable):
    """A stored version that the engine cannot compile cannot be replayed or tried."""

    code = "policy_not_compilable"


# --- files -------------------------------------------------------------------------


def bundle_files(bundle: PolicyBundle) -> dict[str, str]:
    """A version as the plain files it exports to (``data.json`` canonical, indented)."""
    files = {**bundle.modules, **bundle.tests}
    files[DATA_FILE] = json.dumps(dict(bundle.data), ensure_ascii=False, indent=2,
                                  sort_keys=True) + "\n"
    return files


def with_file(bundle: PolicyBundle, path: str, text: str) -> PolicyBundle:
    """``bundle`` with one file (a module, a test or ``data.json``) replaced by ``text``.
    ``NotFound`` (``policy_file_not_found``) for a path the version does not have;
    ``DraftRefused`` with a finding at the line when ``data.json`` is not a JSON object."""
    if path == DATA_FILE:
        return PolicyBundle.build(bundle.modules, _data_document(text), bundle.tests)
    if path in bundle.modules:
        return PolicyBundle.build({**bundle.modules, path: text}, bundle.data, bundle.tests)
    if path in bundle.tests:
        return PolicyBundle.build(bundle.modules, bundle.data, {**bundle.tests, path: text})
    raise NotFound(f"the version has no file {path!r}", code="policy_file_not_found")


def _data_document(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Finding("compile", ERROR, DATA_FILE, exc.lineno, exc.colno,
                          f"invalid JSON: {exc.msg}")
    else:
        if isinstance(doc, dict):
            return doc
        problem = Finding("compile", ERROR, DATA_FILE, 1, 1,
                          "the data document must be a JSON object")
    raise DraftRefused(f"{DATA_FILE} is not a JSON object", reasons=[str(problem)],
                       report=CheckReport("", [problem]))


# --- drafts ------------------------------------------------------------------------


def create_draft(engine: sa.Engine, recorder: Recorder, request_id: str,
                 bundle: PolicyBundle, *, author: str, message: str,
                 parent_id: int | None = None) -> PolicyVersion:
    """Store ``bundle`` as a draft, audited (kind ``policy``, event ``create``). No
    checks yet, except that a version whose files do not parse or that calls a
    forbidden builtin is never stored (``DraftRefused``, 422)."""
    try:
        check_forbidden_builtins(bundle)
    except PolicyLoadError as exc:
        raise DraftRefused(exc.message, reasons=exc.reasons or [exc.message]) from exc
    if parent_id is not None:
        pv.get_version(engine, parent_id)
    version = pv.create_version(engine, bundle, author=author, message=message,
                                parent_id=parent_id)
    pv.audit(recorder, request_id, "create", author, version, parent_id=parent_id)
    return version


@dataclass(frozen=True)
class SavedDraft:
    """A draft made from an edit, with the checks already run on it."""

    version: PolicyVersion
    report: CheckReport


def save_edit(engine: sa.Engine, recorder: Recorder, request_id: str, parent_id: int,
              path: str, text: str, *, author: str, message: str) -> SavedDraft:
    """A new draft: version ``parent_id`` with ``path`` replaced by ``text`` (versions
    are immutable), then every check on it. When the draft is refused (see
    :func:`create_draft`) nothing is stored and ``DraftRefused.report`` carries the
    findings, so the caller can show them next to the text it still holds."""
    bundle = with_file(pv.get_bundle(engine, parent_id), path, text)
    try:
        version = create_draft(engine, recorder, request_id, bundle, author=author,
                               message=message, parent_id=parent_id)
    except DraftRefused as exc:
        exc.report = run_checks(bundle)
        raise
    return SavedDraft(version, pv.check(engine, version.id))


# --- diffs -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileDiff:
    """The unified diff of one file; ``status`` is ``added``, ``removed`` or ``changed``."""

    path: str
    status: str
    text: str


@dataclass(frozen=True)
class VersionDiff:
    """Every file that differs from version ``base`` to version ``target``."""

    base: int
    target: int
    files: list[FileDiff]

    @property
    def text(self) -> str:
        return "".join(f.text for f in self.files)


def file_diffs(old: PolicyBundle, new: PolicyBundle, old_name: str,
               new_name: str) -> list[FileDiff]:
    """The unified diff of each file that differs between two versions, by path."""
    a, b = bundle_files(old), bundle_files(new)
    out: list[FileDiff] = []
    for path in sorted(set(a) | set(b)):
        text = "".join(difflib.unified_diff(
            a.get(path, "").splitlines(keepends=True), b.get(path, "").splitlines(keepends=True),
            fromfile=f"{old_name}/{path}" if path in a else "/dev/null",
            tofile=f"{new_name}/{path}" if path in b else "/dev/null"))
        if text:
            status = "added" if path not in a else "removed" if path not in b else "changed"
            out.append(FileDiff(path, status, text))
    return out


def unified_diff(old: PolicyBundle, new: PolicyBundle, old_name: str, new_name: str) -> str:
    """The unified diff of every file of two versions."""
    return "".join(f.text for f in file_diffs(old, new, old_name, new_name))


def diff(engine: sa.Engine, version_id: int, against: str | None = None) -> VersionDiff:
    """The diff from ``against`` (default: the version's parent, else the active
    version) to ``version_id``."""
    if against is None:
        parent = pv.get_version(engine, version_id).parent_id
        base = parent if parent is not None else pv.resolve(engine, "active")
    else:
        base = pv.resolve(engine, against)
    files = file_diffs(pv.get_bundle(engine, base), pv.get_bundle(engine, version_id),
                       f"v{base}", f"v{version_id}")
    return VersionDiff(base, version_id, files)


# --- activation --------------------------------------------------------------------


def activate(svc: Services, request_id: str, version_id: int, actor: str) -> PolicyVersion:
    """Activate an approved version, audited. With the OPA-server engine the version is
    pushed to the server and a sample of recorded decisions is decided on both engines:
    on an error or any difference the activation is rolled back, audited as
    ``failed_push``, and the error raised (``policy_sync_failed``, 502)."""
    engine = svc.state_engine
    activated = pv.activate_audited(engine, svc.recorder, request_id, version_id, actor)
    if svc.settings.policy_engine == "opa":
        bundle = pv.get_bundle(engine, version_id)
        embedded = embedded_for(bundle)
        try:
            sync_and_check(svc.settings.opa_url, bundle, embedded, sync_samples(engine),
                           timeout_s=svc.settings.policy_timeout_s)
        except GatewayError as exc:
            pv.rollback(engine, actor)
            pv.audit(svc.recorder, request_id, "failed_push", actor, activated,
                     error=f"{exc.code}: {exc.message}")
            raise
        finally:
            embedded.close()
    return activated


def sync_samples(engine: sa.Engine, recent: int = 50) -> list[dict[str, Any]]:
    """The contract samples plus the policy inputs of the latest recorded decisions."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.entry)
                            .where(audit_log.c.kind == "decision")
                            .order_by(audit_log.c.seq.desc()).limit(recent * 4)).all()
    recorded = [e["policy_input"] for e in (parse_leaf(r.entry).entry for r in rows)
                if "policy_input" in e]
    return list(sample_inputs().values()) + recorded[:recent]


def rollback_target(engine: sa.Engine) -> int | None:
    """The version a rollback would make active again, or None (nothing to roll back)."""
    with engine.connect() as conn:
        history = conn.execute(sa.select(pv.policy_active.c.history)
                               .where(pv.policy_active.c.id == 1)).scalar()
    return int(history[-1]) if history else None


# --- replay and what-if ------------------------------------------------------------


def replay_version(engine: sa.Engine, version_id: int, *, last: int | None = None,
                   since: dt.datetime | None = None, examples: int = 5) -> ReplaySummary:
    """Re-decide recorded decisions under a stored version (gateway.policy.replay);
    ``NotCompilable`` (422) if the version does not compile."""
    candidate = pv.get_bundle(engine, version_id)
    try:
        return replay(engine, candidate, last=last, since=since, examples=examples)
    except PolicyLoadError as exc:
        raise NotCompilable(exc.message, reasons=exc.reasons) from exc


def what_if_version(engine: sa.Engine, version_id: int,
                    input: Mapping[str, Any]) -> dict[str, Any]:
    """Decide one input under a stored version with the rules that fired
    (gateway.policy.replay.what_if); ``NotCompilable`` (422) if it does not compile."""
    candidate = pv.get_bundle(engine, version_id)
    try:
        return what_if(candidate, input)
    except PolicyLoadError as exc:
        raise NotCompilable(exc.message, reasons=exc.reasons) from exc

