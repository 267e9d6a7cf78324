"""``VersionedEngine``: decide with whatever version is active in the state database.

Every decision first reads ``(version id, generation)`` from ``policy_active`` (a
primary-key lookup). When it differs from the pair this process last saw, the active
version's bundle is loaded into an :class:`EmbeddedOpaEngine` (engines are cached by
content hash, so a rollback is instant) before deciding. Each decision runs on exactly
one engine, and the engine is picked after reading the pointer: once an activation has
committed, the next decision of every process uses the new version; none mixes two.

The engine that was current just before stays open (a decision that picked it a moment
earlier may still be running); older ones are closed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from gateway.errors import PolicyUnavailable
from gateway.policy.bundle import PolicyBundle
from gateway.policy.decision import Decision
from gateway.policy.embedded import DEFAULT_TIMEOUT_S, EmbeddedOpaEngine
from gateway.policy.versions import active_pointer, get_bundle

KEEP_ENGINES = 2


class VersionedEngine:
    """``PolicyEngine`` following the active policy version across processes."""

    name = "embedded-opa"

    def __init__(self, state_engine: sa.Engine, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 workers: int | None = None,
                 factory: Callable[[PolicyBundle], Any] | None = None) -> None:
        """``factory`` builds the engine for a version (default: embedded OPA). With the
        OPA-server engine it pushes the version to this replica's sidecar, so every
        replica's sidecar follows the active version from its next decision on."""
        self._db = state_engine
        self._factory = factory
        self.name = "embedded-opa" if factory is None else "opa-server"
        self._timeout_s = timeout_s
        self._workers = workers
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._current: EmbeddedOpaEngine | None = None
        self._engines: OrderedDict[str, EmbeddedOpaEngine] = OrderedDict()
        self._closed = False
        self.active_version_id: int | None = None

    def current(self) -> EmbeddedOpaEngine:
        """The engine of the active version, switching first if the pointer moved."""
        return self._current_with_id()[0]

    def _current_with_id(self) -> tuple[EmbeddedOpaEngine, int]:
        """The engine of the active version and that version's id, read together."""
        try:
            pointer = active_pointer(self._db)
        except sa.exc.SQLAlchemyError as exc:
            raise PolicyUnavailable(f"cannot read the active policy version "
                                    f"({type(exc).__name__})", code="policy_error") from None
        if pointer is None:
            raise PolicyUnavailable("no policy version is active", code="policy_not_loaded")
        engine = self._current
        if pointer == self._seen and engine is not None:
            return engine, pointer[0]
        with self._lock:
            if pointer != self._seen or self._current is None:
                self._switch(pointer)
            assert self._current is not None
            return self._current, pointer[0]

    def _switch(self, pointer: tuple[int, int]) -> None:
        if self._closed:
            raise PolicyUnavailable("policy engine is closed", code="policy_error")
        bundle = get_bundle(self._db, pointer[0])
        engine = self._engines.pop(bundle.hash, None)
        if engine is None:
            engine = self._factory(bundle) if self._factory is not None else \
                EmbeddedOpaEngine(bundle, timeout_s=self._timeout_s, workers=self._workers)
        self._engines[bundle.hash] = engine  # most recently used last
        while len(self._engines) > KEEP_ENGINES:
            _, old = self._engines.popitem(last=False)
            old.close()
        self._current, self._seen = engine, pointer
        self.active_version_id = pointer[0]

    def decide(self, input: Mapping[str, Any]) -> Decision:
        """Decide with the active version; ``Decision.policy_version`` is its hash and
        ``policy_version_id`` its id."""
        engine, version_id = self._current_with_id()
        return replace(engine.decide(input), policy_version_id=version_id)

    def eval_trace(self, input: Mapping[str, Any]) -> tuple[Decision, list[str]]:
        """As :meth:`EmbeddedOpaEngine.eval_trace`, with the active version."""
        return self.current().eval_trace(input)

    def version(self) -> str:
        """The content hash of the active version."""
        return self.current().version()

    @property
    def bundle(self) -> PolicyBundle:
        return self.current().bundle

    def close(self) -> None:
        """Close every cached engine."""
        with self._lock:
            self._closed = True
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()
            self._current = None


def versioned_engine(settings: Any, state_engine: sa.Engine) -> VersionedEngine | None:
    """A :class:`VersionedEngine` (on the embedded or the OPA-server engine) when no signed
    bundle is imposed and the state database has an active version; else None."""
    if getattr(settings, "policy_bundle", None) is not None:
        return None
    if active_pointer(state_engine) is None:
        return None
    factory: Callable[[PolicyBundle], Any] | None = None
    if getattr(settings, "policy_engine", "embedded") == "opa":
        from gateway.policy.opa_server import OpaServerEngine

        def factory(bundle: PolicyBundle) -> Any:
            return OpaServerEngine(settings.opa_url, bundle, timeout_s=settings.policy_timeout_s)
    return VersionedEngine(state_engine, workers=settings.policy_workers,
                           timeout_s=settings.policy_timeout_s, factory=factory)
