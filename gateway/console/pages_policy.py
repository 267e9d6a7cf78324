"""Policy pages: the versions with the approval queue, one version (files, check report,
diff, events, lifecycle buttons), the editor that saves an edit as a new draft and shows
the checks' findings inline, and replay / what-if of a version.

Every action calls the same functions as ``/admin/v1/policies`` (gateway.policy.versions
and gateway.policy.lifecycle) with the signed-in admin as the actor, through
:func:`~gateway.console.web.perform` (one ``console`` audit entry per action; the
lifecycle writes its own ``policy`` entries).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.console.accounts import ConsoleSession
from gateway.console.web import (
    PREFIX,
    AdminAction,
    AdminSession,
    perform,
    redirect,
    render,
    services,
)
from gateway.errors import BadRequest, GatewayError, NotFound
from gateway.policy import lifecycle
from gateway.policy import versions as pv
from gateway.policy.bundle import DATA_FILE, TEST_SUFFIX
from gateway.policy.checks import ERROR, CheckReport, Finding
from gateway.policy.samples import sample_inputs
from gateway.services import Services

router = APIRouter(prefix=PREFIX + "/policies", include_in_schema=False)

REPLAY_DEFAULT, REPLAY_MAX = 200, 100_000
MAX_FILE_CHARS = 512 * 1024
_DONE = frozenset({"policy_draft_saved", "policy_proposed", "policy_approved",
                   "policy_rejected", "policy_activated", "policy_rolled_back"})


class _Reports:
    """Check reports by content hash. The checks are a function of a version's sources
    alone, so a report stays true for its hash; this keeps page views from waiting
    seconds for the same checks again."""

    def __init__(self, size: int = 64):
        self._size = size
        self._items: OrderedDict[str, CheckReport] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CheckReport | None:
        with self._lock:
            report = self._items.get(key)
            if report is not None:
                self._items.move_to_end(key)
            return report

    def put(self, report: CheckReport) -> None:
        with self._lock:
            self._items[report.hash] = report
            self._items.move_to_end(report.hash)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_reports = _Reports()


def _checks(svc: Services, version: pv.PolicyVersion) -> CheckReport:
    report = _reports.get(version.hash)
    if report is None:
        report = pv.check(svc.state_engine, version.id)
        _reports.put(report)
    return report


def _rid(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def _done(value: str | None) -> str | None:
    return value if value in _DONE else None


def _actor(session: ConsoleSession) -> str:
    return session.principal.id


# --- the list ----------------------------------------------------------------------


def _list_context(svc: Services) -> dict[str, Any]:
    engine = svc.state_engine
    versions = pv.list_versions(engine)
    pointer = pv.active_pointer(engine)
    target = lifecycle.rollback_target(engine)
    return {"versions": versions, "active_id": pointer[0] if pointer else None,
            "generation": pointer[1] if pointer else None, "rollback_to": target,
            "queue": [v for v in versions if v.state == pv.PROPOSED]}


@router.get("")
async def versions_page(request: Request, session: AdminSession,
                        done: str | None = None) -> Response:
    ctx = await run_in_threadpool(_list_context, services(request))
    return render(request, "policy/list.html", done=_done(done), **ctx)


@router.post("/rollback")
async def rollback(request: Request, session: AdminAction) -> Response:
    svc = services(request)
    try:
        await perform(request, session, "policy_rollback", "active",
                      lambda: pv.rollback_audited(svc.state_engine, svc.recorder,
                                                  _rid(request), _actor(session)))
    except GatewayError as exc:
        ctx = await run_in_threadpool(_list_context, svc)
        return render(request, "policy/list.html", status_code=exc.status_code, error=exc,
                      **ctx)
    return redirect(f"{PREFIX}/policies", done="policy_rolled_back")


# --- one version -------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyFile:
    path: str
    kind: str  # module, test, data
    lines: int


def _files(svc: Services, version_id: int) -> dict[str, str]:
    return lifecycle.bundle_files(pv.get_bundle(svc.state_engine, version_id))


def _file_list(files: dict[str, str]) -> list[PolicyFile]:
    def kind(path: str) -> str:
        return "data" if path == DATA_FILE else "test" if path.endswith(TEST_SUFFIX) \
            else "module"

    order = {"module": 0, "test": 1, "data": 2}
    listed = [PolicyFile(p, kind(p), len(text.splitlines())) for p, text in files.items()]
    return sorted(listed, key=lambda f: (order[f.kind], f.path))


def _diff_lines(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        cls = ("meta" if line.startswith(("+++", "---")) else "hunk" if line.startswith("@@")
               else "add" if line.startswith("+") else "del" if line.startswith("-")
               else "ctx")
        out.append((cls, line))
    return out


def _detail_context(svc: Services, ref: str,
                    report: CheckReport | None = None) -> dict[str, Any]:
    engine = svc.state_engine
    vid = pv.resolve(engine, ref)
    version = pv.get_version(engine, vid)
    found: lifecycle.VersionDiff | None = None
    if version.parent_id is not None:
        found = lifecycle.diff(engine, vid)
    pointer = pv.active_pointer(engine)
    return {
        "version": version, "files": _file_list(_files(svc, vid)),
        "events": pv.events(engine, vid), "report": report or _checks(svc, version),
        "diff": found, "diff_files": [(f, _diff_lines(f.text)) for f in found.files]
        if found else [], "active_id": pointer[0] if pointer else None,
        "rollback_to": lifecycle.rollback_target(engine),
        "replay_default": REPLAY_DEFAULT,
    }


async def _detail(request: Request, ref: str, *, status_code: int = 200,
                  error: GatewayError | None = None, report: CheckReport | None = None,
                  done: str | None = None) -> Response:
    ctx = await run_in_threadpool(_detail_context, services(request), ref, report)
    return render(request, "policy/detail.html", status_code=status_code, error=error,
                  done=_done(done), **ctx)


@router.get("/{ref}")
async def detail_page(request: Request, ref: str, session: AdminSession,
                      done: str | None = None) -> Response:
    return await _detail(request, ref, done=done)


async def _transition(request: Request, session: ConsoleSession, version_id: int,
                      event: str, done: str, action: Any) -> Response:
    """Run one lifecycle step; a refusal (own_version, illegal_transition,
    checks_failed, ...) comes back on the version's page with its status code."""
    try:
        await perform(request, session, event, str(version_id), action)
    except GatewayError as exc:
        report = exc.report if isinstance(exc, pv.ChecksFailed) else None
        return await _detail(request, str(version_id), status_code=exc.status_code,
                             error=exc, report=report)
    return redirect(f"{PREFIX}/policies/{version_id}", done=done)


@router.post("/{version_id}/propose")
async def propose(request: Request, version_id: int, session: AdminAction) -> Response:
    svc = services(request)
    return await _transition(request, session, version_id, "policy_propose",
                             "policy_proposed", lambda: pv.propose(
                                 svc.state_engine, svc.recorder, _rid(request), version_id,
                                 _actor(session)))


async def _review(request: Request, version_id: int, session: ConsoleSession,
                  approve: bool) -> Response:
    svc = services(request)
    form = await request.form()
    note = str(form.get("note") or "").strip()[:2000]
    return await _transition(
        request, session, version_id, "policy_approve" if approve else "policy_reject",
        "policy_approved" if approve else "policy_rejected",
        lambda: pv.review_audited(svc.state_engine, svc.recorder, _rid(request), version_id,
                                  _actor(session), approve=approve, note=note))


@router.post("/{version_id}/approve")
async def approve(request: Request, version_id: int, session: AdminAction) -> Response:
    return await _review(request, version_id, session, True)


@router.post("/{version_id}/reject")
async def reject(request: Request, version_id: int, session: AdminAction) -> Response:
    return await _review(request, version_id, session, False)


@router.post("/{version_id}/activate")
async def activate(request: Request, version_id: int, session: AdminAction) -> Response:
    svc = services(request)
    return await _transition(request, session, version_id, "policy_activate",
                             "policy_activated", lambda: lifecycle.activate(
                                 svc, _rid(request), version_id, _actor(session)))


# --- the editor --------------------------------------------------------------------


def _editor_context(svc: Services, version: pv.PolicyVersion, files: dict[str, str],
                    path: str, text: str, report: CheckReport, line: int | None,
                    message: str = "", saved: bool = True) -> dict[str, Any]:
    here = [f for f in report.findings if f.file == path and f.line > 0]
    bad = sorted({f.line for f in here})
    focus = line if line and line > 0 else (_first_bad_line(report.findings, path) or 0)
    count = text.count("\n") + 1
    return {
        "version": version, "files": _file_list(files), "file": path, "text": text,
        "gutter": [(n, n in bad) for n in range(1, count + 1)], "bad_lines": bad,
        "focus_line": focus, "here": here, "report": report, "message": message,
        "others": [f for f in report.findings if f not in here], "saved": saved,
        "errors": sum(1 for f in report.findings if f.severity == ERROR),
    }


def _default_file(files: dict[str, str]) -> str:
    listed = _file_list(files)
    preferred = [f.path for f in listed if f.path.endswith("decision.rego")]
    return preferred[0] if preferred else listed[0].path


def _open_editor(svc: Services, ref: str, file: str | None,
                 line: int | None) -> dict[str, Any]:
    version = pv.get_version(svc.state_engine, pv.resolve(svc.state_engine, ref))
    files = _files(svc, version.id)
    path = file or _default_file(files)
    if path not in files:
        raise NotFound(f"version {version.id} has no file {path!r}",
                       code="policy_file_not_found")
    return _editor_context(svc, version, files, path, files[path], _checks(svc, version),
                           line)


@router.get("/{ref}/edit")
async def edit_page(request: Request, ref: str, session: AdminSession,
                    file: str | None = None, line: int | None = None,
                    done: str | None = None) -> Response:
    ctx = await run_in_threadpool(_open_editor, services(request), ref, file, line)
    return render(request, "policy/edit.html", done=_done(done), **ctx)


@router.post("/{version_id}/edit")
async def save_edit(request: Request, version_id: int, session: AdminAction) -> Response:
    """Save the edited file as a new draft (parent: this version) and run the checks.
    A text that does not parse is not stored (the API refuses such drafts too): the
    editor comes back with the submitted text and the findings, so nothing is lost."""
    svc = services(request)
    form = await request.form()
    path = str(form.get("file") or "")
    # Browsers submit textarea lines with CRLF; the stored file keeps the editor's LF.
    text = str(form.get("text") or "").replace("\r\n", "\n")
    message = str(form.get("message") or "").strip()

    async def again(exc: GatewayError, report: CheckReport | None = None) -> Response:
        def build() -> dict[str, Any]:
            version = pv.get_version(svc.state_engine, version_id)
            files = _files(svc, version_id)
            if path not in files:
                raise exc
            shown = report or _checks(svc, version)
            return _editor_context(svc, version, files, path, text, shown, None, message,
                                   saved=report is None)
        ctx = await run_in_threadpool(build)
        return render(request, "policy/edit.html", status_code=exc.status_code, error=exc,
                      **ctx)

    if not message or len(message) > 2000:
        return await again(BadRequest("a commit message of 1 to 2000 characters is needed",
                                      code="policy_message_required"))
    if len(text) > MAX_FILE_CHARS:
        return await again(BadRequest(f"a file may have at most {MAX_FILE_CHARS} characters",
                                      code="policy_file_too_large"))
    try:
        saved = await perform(
            request, session, "policy_draft_save", str(version_id),
            lambda: lifecycle.save_edit(svc.state_engine, svc.recorder, _rid(request),
                                        version_id, path, text, author=_actor(session),
                                        message=message), file=path)
    except lifecycle.DraftRefused as exc:
        return await again(exc, exc.report)
    except GatewayError as exc:
        return await again(exc)
    _reports.put(saved.report)
    query = {"file": path, "done": "policy_draft_saved"}
    first = _first_bad_line(saved.report.findings, path)
    if first:
        query["line"] = str(first)
    return redirect(f"{PREFIX}/policies/{saved.version.id}/edit", **query)


def _first_bad_line(findings: list[Finding], path: str) -> int | None:
    lines = [f.line for f in findings if f.file == path and f.line > 0 and f.severity == ERROR]
    return min(lines) if lines else None


# --- replay and what-if ------------------------------------------------------------


def _samples() -> dict[str, str]:
    return {name: json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True)
            for name, doc in sample_inputs().items()}


def _replay_context(svc: Services, version_id: int) -> dict[str, Any]:
    return {"version": pv.get_version(svc.state_engine, version_id),
            "replay_default": REPLAY_DEFAULT, "replay_max": REPLAY_MAX,
            "samples": sorted(_samples())}


async def _replay_page(request: Request, version_id: int, *, status_code: int = 200,
                       **extra: Any) -> Response:
    ctx = await run_in_threadpool(_replay_context, services(request), version_id)
    ctx.update(extra)
    ctx.setdefault("last", REPLAY_DEFAULT)
    return render(request, "policy/replay.html", status_code=status_code, **ctx)


@router.get("/{version_id}/replay")
async def replay_page(request: Request, version_id: int, session: AdminSession) -> Response:
    return await _replay_page(request, version_id)


def _last(raw: str) -> int:
    raw = raw.strip() or str(REPLAY_DEFAULT)
    if not raw.isdigit() or not 1 <= int(raw) <= REPLAY_MAX:
        raise BadRequest(f"the number of decisions is a whole number from 1 to {REPLAY_MAX}",
                         code="bad_replay_window")
    return int(raw)


@router.post("/{version_id}/replay")
async def run_replay(request: Request, version_id: int, session: AdminAction) -> Response:
    """Replay the last N recorded decisions under this version: counts, changes and
    examples (field names, operators, reason codes and ids; never request values)."""
    svc = services(request)
    form = await request.form()
    raw = str(form.get("last") or "")[:12]
    try:
        last = _last(raw)
        summary = await perform(
            request, session, "policy_replay", str(version_id),
            lambda: lifecycle.replay_version(svc.state_engine, version_id, last=last),
            last=last)
    except GatewayError as exc:
        return await _replay_page(request, version_id, status_code=exc.status_code,
                                  error=exc, last=raw)
    return await _replay_page(request, version_id, summary=summary.to_json(), last=last)


def _what_if_input(text: str, sample: str) -> dict[str, Any]:
    if not text.strip():
        samples = sample_inputs()
        if sample not in samples:
            raise BadRequest("paste a policy input or choose a sample",
                             code="invalid_what_if_input")
        return samples[sample]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the input is not JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})", code="invalid_what_if_input") from None
    if not isinstance(doc, dict):
        raise BadRequest("the input must be a JSON object", code="invalid_what_if_input")
    return doc


@router.post("/{version_id}/what-if")
async def run_what_if(request: Request, version_id: int, session: AdminAction) -> Response:
    """Decide one input (pasted, or a contract sample) under this version and list the
    rules that fired."""
    svc = services(request)
    form = await request.form()
    text = str(form.get("input") or "").replace("\r\n", "\n")[:MAX_FILE_CHARS]
    sample = str(form.get("sample") or "")
    try:
        doc = _what_if_input(text, sample)
        result = await perform(
            request, session, "policy_what_if", str(version_id),
            lambda: lifecycle.what_if_version(svc.state_engine, version_id, doc))
    except GatewayError as exc:
        return await _replay_page(request, version_id, status_code=exc.status_code,
                                  error=exc, what_if_text=text, sample=sample)
    return await _replay_page(request, version_id, what_if=result, what_if_text=text,
                              sample=sample)
