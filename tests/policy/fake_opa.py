"""A loopback stand-in for an OPA server, backed by the real embedded OPA.

No OPA binary is available in CI, so the OPA-server adapter is tested against
this OPA-compatible HTTP server on 127.0.0.1 (random port, in a thread). It
implements only the REST endpoints the adapter uses, with OPA's status codes
and error shapes, and evaluates with the same OPA v1 engine the embedded
adapter embeds (``opa_bindings``). What it cannot show is behaviour specific to
the real server process (bundles, decision logs, its own HTTP stack).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from opa_bindings import OpaEngine, OpaError

_LOCATED = re.compile(r"(\S+\.rego):(\d+): (\w+): (.*)", re.DOTALL)


class FakeOpa:
    """State of the fake server: modules, data, and what it was asked."""

    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path?query)
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._engine = OpaEngine()

    def _rebuild(self, policies: dict[str, str], data: dict[str, Any]) -> None:
        """Compile the candidate state; keep the old one if it does not compile."""
        engine = OpaEngine()
        for policy_id, source in policies.items():
            engine.add_policy(policy_id, source)
        engine.add_data(data)
        engine.eval_query("compiled := true")
        with self._lock:
            self.policies, self.data, self._engine = policies, data, engine

    def put_policy(self, policy_id: str, source: str) -> None:
        self._rebuild({**self.policies, policy_id: source}, self.data)

    def delete_policy(self, policy_id: str) -> None:
        self._rebuild({k: v for k, v in self.policies.items() if k != policy_id}, self.data)

    def put_data(self, path: list[str], value: Any) -> None:
        data = json.loads(json.dumps(self.data))
        if not path:
            data = value
        else:
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        self._rebuild(dict(self.policies), data)

    def query(self, path: list[str], input: Any) -> list[dict[str, Any]]:
        ref = "data" + "".join(f"[{json.dumps(key)}]" for key in path)
        with self._lock:
            engine = self._engine
        rows: list[dict[str, Any]] = engine.eval_query(f"result := {ref}", input)
        return rows


def _opa_error(exc: OpaError) -> dict[str, Any]:
    """OPA's error object for an engine error: {"code", "message", "location"}."""
    match = _LOCATED.search(exc.message)
    if match is None:
        return {"code": exc.code, "message": exc.message}
    file, row, code, message = match.groups()
    return {"code": code, "message": message, "location": {"file": file, "row": int(row), "col": 1}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One segment per reply, sent at once: avoids Nagle + delayed-ACK stalls (40 ms).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self) -> tuple[str, list[str], dict[str, list[str]]]:
        self.server.fake.requests.append((self.command, self.path))
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        return "/".join(parts[:2]), parts[2:], parse_qs(url.query)

    def do_GET(self) -> None:
        root, rest, _ = self._route()
        fake = self.server.fake
        if root == "health":
            self._reply(200, {})
        elif root == "v1/policies" and not rest:
            result = [{"id": pid, "raw": src} for pid, src in fake.policies.items()]
            self._reply(200, {"result": result})
        else:
            self._reply(404, {"code": "resource_not_found", "message": "not found"})

    def do_PUT(self) -> None:
        root, rest, _ = self._route()
        fake = self.server.fake
        body = self._body()
        try:
            if root == "v1/policies" and rest:
                fake.put_policy("/".join(rest), body.decode())
                self._reply(200, {})
            elif root == "v1/data":
                fake.put_data(rest, json.loads(body))
                self._reply(204)
            else:
                self._reply(404, {"code": "resource_not_found", "message": "not found"})
        except OpaError as exc:
            self._reply(
                400,
                {
                    "code": "invalid_parameter",
                    "message": "error(s) occurred while compiling module(s)",
                    "errors": [_opa_error(exc)],
                },
            )

    def do_DELETE(self) -> None:
        root, rest, _ = self._route()
        fake = self.server.fake
        policy_id = "/".join(rest)
        if root != "v1/policies" or policy_id not in fake.policies:
            self._reply(404, {"code": "resource_not_found", "message": "not found"})
            return
        try:
            fake.delete_policy(policy_id)
            self._reply(200, {})
        except OpaError as exc:
            self._reply(400, {"code": "invalid_parameter", "message": exc.message})

    def do_POST(self) -> None:
        root, rest, _ = self._route()
        fake = self.server.fake
        if root != "v1/data":
            self._reply(404, {"code": "resource_not_found", "message": "not found"})
            return
        doc = json.loads(self._body() or b"{}")
        time.sleep(fake.delay_s)
        try:
            # The embedded engine is always strict about builtin errors, as OPA
            # is with ?strict-builtin-errors=true (which the adapter sends).
            rows = fake.query(rest, doc.get("input"))
        except OpaError as exc:
            self._reply(
                500,
                {
                    "code": "internal_error",
                    "message": "error(s) occurred while evaluating query",
                    "errors": [_opa_error(exc)],
                },
            )
            return
        self._reply(200, {"result": rows[0]["result"]} if rows else {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeOpa

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is what the timeout tests do.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpaServer:
    """Runs a :class:`FakeOpa` on ``127.0.0.1:<port>`` until :meth:`stop`."""

    def __init__(self) -> None:
        self.fake = FakeOpa()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self.fake
        self.host, self.port = "127.0.0.1", int(self._server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeOpaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
