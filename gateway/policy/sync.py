"""OPA server sync: push a policy version to the OPA server, then check that the
server decides a replay sample exactly as the embedded engine does.

The lead's activation calls :func:`sync_and_check` and rolls back on
:class:`SyncFailed`. Reports never carry input or decision values beyond a
short allow-list (``allow``, operators, row limits): the sample is recorded
traffic and may hold (hashed) personal data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError, PolicyUnavailable
from gateway.policy.bundle import PolicyBundle, PolicyLoadError
from gateway.policy.decision import PolicyEngine
from gateway.policy.embedded import EmbeddedOpaEngine
from gateway.policy.opa_server import OpaServerEngine

MAX_DIFF_PATHS = 5
# Leaves whose values are policy vocabulary, never request data: shown in diffs.
_SHOWN_LEAVES = frozenset({"allow", "operator", "max_rows", "k_min"})


class SyncFailed(GatewayError):
    """The OPA server refused the version, errored, or decided a sample differently.

    ``index`` is the first failing sample (None when the push itself failed);
    ``diff`` lists up to :data:`MAX_DIFF_PATHS` differing paths of the decision
    document, e.g. ``fields.name.operator: 'mask' -> 'keep'`` (values shown only
    for ``allow``, operators and limits)."""

    status_code = 502
    code = "policy_sync_failed"

    def __init__(self, message: str, *, index: int | None = None,
                 diff: Sequence[str] = ()) -> None:
        super().__init__(message, reasons=list(diff))
        self.index = index
        self.diff = list(diff)


@dataclass(frozen=True)
class SyncResult:
    """What a successful sync did: the version pushed and how many samples agreed."""

    version: str
    checked: int
    engine: OpaServerEngine = field(repr=False)


def sync_and_check(
    server: OpaServerEngine | str,
    bundle: PolicyBundle,
    embedded: PolicyEngine,
    samples: Sequence[Mapping[str, Any]],
    *,
    timeout_s: float = 2.0,
    token: str | None = None,
) -> SyncResult:
    """Push ``bundle`` to the OPA server and compare decisions on ``samples``.

    ``server`` is an :class:`OpaServerEngine` built for ``bundle`` (its
    ``push()`` is called), or the server's URL (an engine is built for it;
    ``timeout_s``/``token`` apply). ``embedded`` must decide with the same
    version. Every sample is decided on both engines and the full decision
    documents are compared; the first error or difference raises
    :class:`SyncFailed`. On success the returned ``engine`` serves ``bundle``."""
    if isinstance(server, str):
        try:
            server = OpaServerEngine(server, bundle, timeout_s=timeout_s, token=token, push=False)
        except GatewayError as exc:
            raise SyncFailed(f"OPA server engine could not be built: {exc.message}") from exc
    for name, engine in (("OPA server engine", server), ("embedded engine", embedded)):
        if engine.version() != bundle.hash:
            raise SyncFailed(f"{name} holds version {engine.version()[:12]}, "
                             f"not {bundle.hash[:12]}")
    try:
        server.push()
    except PolicyLoadError as exc:
        raise SyncFailed(f"push to the OPA server failed: {exc.message}",
                         diff=exc.reasons) from exc
    for index, sample in enumerate(samples):
        want = _decide(embedded, sample, index, "embedded engine")
        got = _decide(server, sample, index, "OPA server")
        if want != got:
            diff = list(_diff(want, got))
            raise SyncFailed(
                f"OPA server decides sample {index} differently from the embedded engine "
                f"({len(diff)} difference(s): {'; '.join(diff[:MAX_DIFF_PATHS])})",
                index=index, diff=diff[:MAX_DIFF_PATHS])
    return SyncResult(version=bundle.hash, checked=len(samples), engine=server)


def _decide(engine: PolicyEngine, sample: Mapping[str, Any], index: int,
            name: str) -> dict[str, Any]:
    try:
        return dict(engine.decide(sample).raw)
    except PolicyUnavailable as exc:
        raise SyncFailed(f"{name} could not decide sample {index}: [{exc.code}] {exc.message}",
                         index=index, diff=[f"{name}: {exc.code}"]) from exc


def _diff(want: Any, got: Any, path: str = "") -> Iterator[str]:
    """Paths where ``got`` (server) differs from ``want`` (embedded)."""
    where = path or "<document>"
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        for key in sorted(set(want) | set(got), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in got:
                yield f"{sub}: missing on the OPA server"
            elif key not in want:
                yield f"{sub}: only on the OPA server"
            else:
                yield from _diff(want[key], got[key], sub)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            yield from _diff(a, b, f"{path}[{i}]")
    elif isinstance(want, list) and isinstance(got, list):
        yield f"{where}: {len(want)} item(s) -> {len(got)} item(s)"
    elif want != got or type(want) is not type(got):
        leaf = path.rsplit(".", 1)[-1]
        if leaf in _SHOWN_LEAVES and _scalar(want) and _scalar(got):
            yield f"{where}: {want!r} -> {got!r}"
        else:
            yield f"{where}: differs"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float) or (
        isinstance(value, str) and len(value) <= 32)


def embedded_for(bundle: PolicyBundle, *, workers: int = 2) -> EmbeddedOpaEngine:
    """An embedded engine for ``bundle`` to compare against (close it after use)."""
    return EmbeddedOpaEngine(bundle, workers=workers)
