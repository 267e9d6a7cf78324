"""The default engine: real OPA (v1, Go) in-process through ``opa_bindings``.

One ``OpaEngine`` serializes its evaluations, and the bindings offer no way to
cancel one. So the engine keeps a small pool of worker threads, each owning its
own interpreter loaded with the same bundle (the native call releases the GIL,
so workers decide in parallel), and the caller waits for its answer with a
timeout. A timed-out evaluation keeps its worker busy until OPA returns; the
caller has already been told ``policy_timeout`` and the request denied.

The pool only needs an :class:`Interpreter`; another in-process Rego engine
(e.g. regorus) would be a second implementation of that, not a second pool.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, Self

from opa_bindings import OpaEngine, OpaError

from gateway.errors import PolicyUnavailable
from gateway.policy.bundle import PolicyBundle, PolicyLoadError
from gateway.policy.decision import Decision, parse_decision

DECISION_QUERY = "decision := data.gateway.decision"
DEFAULT_TIMEOUT_S = 2.0

# "file.rego:12: eval_builtin_error: div: divide by zero" -> keep up to the
# builtin's name: what follows may quote input values (personal data).
_ERROR_WHERE = re.compile(r"(\S+\.rego:\d+): (\w+)(?:: ([\w.]+):)?")
_RULE_NAME = re.compile(r"^([A-Za-z_][\w.]*)")


def load_engine(bundle: PolicyBundle, *, include_tests: bool = False) -> OpaEngine:
    """A fresh ``OpaEngine`` holding the bundle's modules (and tests) and data,
    compiled; raises :class:`PolicyLoadError` if it does not compile."""
    engine = OpaEngine()
    try:
        sources = {**bundle.modules, **(bundle.tests if include_tests else {})}
        for path, source in sorted(sources.items()):
            engine.add_policy(path, source)
        if bundle.data:
            engine.add_data(dict(bundle.data))
        # Modules compile on the first evaluation; do it now so errors surface at load.
        engine.eval_query("compiled := true")
    except OpaError as exc:
        engine.close()
        raise PolicyLoadError(f"policy bundle does not compile: {exc.message}") from exc
    return engine


def error_detail(exc: OpaError) -> str:
    """Where and what went wrong, without the part of OPA's message that may
    quote input values."""
    match = _ERROR_WHERE.search(exc.message)
    if match is None:
        return str(exc.code)
    return ": ".join(part for part in match.groups() if part)


class Interpreter(Protocol):
    """One in-process Rego interpreter holding one bundle, used by one thread."""

    def evaluate(
        self, input: Mapping[str, Any], *, trace: bool
    ) -> tuple[Any, list[dict[str, Any]] | None]:
        """``(data.gateway.decision or None if undefined, trace events or None)``;
        raises ``PolicyUnavailable`` (code ``policy_error``) on an engine error."""
        ...

    def close(self) -> None: ...


class OpaInterpreter:
    """:class:`Interpreter` over one ``opa_bindings.OpaEngine`` (always strict
    about builtin errors)."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self._engine = load_engine(bundle)

    def evaluate(
        self, input: Mapping[str, Any], *, trace: bool
    ) -> tuple[Any, list[dict[str, Any]] | None]:
        try:
            rows = self._engine.eval_query(DECISION_QUERY, dict(input), trace=trace)
        except OpaError as exc:
            raise PolicyUnavailable(
                f"policy engine error ({error_detail(exc)})", code="policy_error"
            ) from None
        events = self._engine.last_trace if trace else None
        # eval_query drops expression values: a bare boolean query answers [{}]
        # whether true or false. Only a binding says the document is defined.
        return (rows[0].get("decision") if rows else None), events

    def close(self) -> None:
        self._engine.close()


class _Job:
    """One evaluation handed to a worker. ``claim`` is taken by whoever gets there
    first: the worker (to run it) or the caller giving up (so it never runs);
    ``done`` is released by the worker when the result is in. Plain locks keep
    the hand-off to a few microseconds."""

    __slots__ = ("claim", "doc", "done", "error", "events", "input", "trace")

    def __init__(self, input: Mapping[str, Any], trace: bool) -> None:
        self.input = input
        self.trace = trace
        self.claim = threading.Lock()
        self.done = threading.Lock()
        self.done.acquire()
        self.doc: Any = None
        self.events: list[dict[str, Any]] | None = None
        self.error: Exception | None = None


class EmbeddedOpaEngine:
    """``PolicyEngine`` deciding with the embedded OPA.

    ``workers`` interpreters (default: CPU count, at most 8) decide in parallel;
    ``timeout_s`` bounds how long ``decide`` waits for an answer;
    ``interpreter`` builds one interpreter for a bundle."""

    name = "embedded-opa"

    def __init__(
        self,
        bundle: PolicyBundle,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        workers: int | None = None,
        interpreter: Callable[[PolicyBundle], Interpreter] = OpaInterpreter,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._bundle = bundle
        self._timeout_s = timeout_s
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        count = workers if workers is not None else min(os.cpu_count() or 1, 8)
        interpreters: list[Interpreter] = []
        try:
            for _ in range(max(1, count)):
                interpreters.append(interpreter(bundle))
        except BaseException:
            for built in interpreters:
                built.close()
            raise
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, args=(built,), name=f"{self.name}-{i}", daemon=True)
            for i, built in enumerate(interpreters)
        ]
        for thread in self._threads:
            thread.start()

    def version(self) -> str:
        """The content hash of the bundle this engine decides with."""
        return self._bundle.hash

    @property
    def bundle(self) -> PolicyBundle:
        return self._bundle

    def decide(self, input: Mapping[str, Any]) -> Decision:
        """Evaluate ``data.gateway.decision``; raise ``PolicyUnavailable`` on engine
        error (``policy_error``), no answer in time (``policy_timeout``) or an
        undefined decision (``policy_undefined``)."""
        doc, _ = self._evaluate(input, trace=False)
        return self._parse(doc)

    def eval_trace(self, input: Mapping[str, Any]) -> tuple[Decision, list[str]]:
        """Decide with OPA's tracer on (about 10x slower): the decision and the
        rules that fired, as ``"file.rego:line rule"`` in evaluation order."""
        doc, events = self._evaluate(input, trace=True)
        fired: list[str] = []
        for event in events or []:
            node = event.get("node")
            if event.get("op") != "Exit" or not isinstance(node, str) or " if {" not in node:
                continue
            match = _RULE_NAME.match(node)
            hit = f"{event.get('location')} {match.group(1) if match else node}"
            if hit not in fired:
                fired.append(hit)
        return self._parse(doc), fired

    def close(self) -> None:
        """Stop the workers; each closes its engine once its current job is done."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _parse(self, doc: Any) -> Decision:
        if doc is None:
            raise PolicyUnavailable(
                "policy defines no data.gateway.decision for this input", code="policy_undefined"
            )
        return parse_decision(doc, engine=self.name, policy_version=self._bundle.hash)

    def _evaluate(
        self, input: Mapping[str, Any], *, trace: bool
    ) -> tuple[Any, list[dict[str, Any]] | None]:
        if self._closed:
            raise PolicyUnavailable("policy engine is closed", code="policy_error")
        job = _Job(input, trace)
        self._jobs.put(job)
        if not job.done.acquire(timeout=self._timeout_s):
            job.claim.acquire(blocking=False)  # not started yet: the worker will skip it
            raise PolicyUnavailable(
                f"policy engine gave no answer within {self._timeout_s:g} s", code="policy_timeout"
            )
        if isinstance(job.error, PolicyUnavailable):
            raise job.error
        if job.error is not None:  # input not JSON-serializable, engine closed, ...
            raise PolicyUnavailable(
                f"policy engine error ({type(job.error).__name__})", code="policy_error"
            )
        return job.doc, job.events

    def _work(self, interpreter: Interpreter) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                if not job.claim.acquire(blocking=False):
                    continue  # its caller already gave up
                try:
                    job.doc, job.events = interpreter.evaluate(job.input, trace=job.trace)
                except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                    job.error = exc
                finally:
                    job.done.release()
        finally:
            interpreter.close()
