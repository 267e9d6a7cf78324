"""Signed requests: accepted when intact; every tampered component, stale timestamp,
replayed nonce and malformed header refused with 401 and a stable code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.auth import Principal
from gateway.errors import Unauthenticated
from gateway.request_auth import create_signing_key, sign_request, verify_signed_request
from tests.request_auth.conftest import Env

NOW = dt.datetime(2026, 3, 2, 10, 15, 20, tzinfo=dt.UTC)
BODY = b'{"fields": ["name"], "purpose": "credit-check"}'
NONCE = "n0nce-0123456789abcdef"
REQ: dict[str, Any] = {"method": "POST", "path": "/v1/datasets/persons/query",
                       "query": "limit=10&cursor=abc", "body": BODY}


def _verify(env: Env, headers: dict[str, str], *, now: dt.datetime = NOW,
            nonces: Any = None, **changes: Any) -> Principal:
    req = {**REQ, **changes}
    return verify_signed_request(env.engine, env.ring, nonces or env.nonces(), req["method"],
                                 req["path"], req["query"], req["body"], headers, now)


def _signed(env: Env, principal: str = "op1", **kw: Any) -> tuple[str, dict[str, str]]:
    key_id, secret = create_signing_key(env.engine, env.ring, principal)
    kw.setdefault("now", NOW)
    kw.setdefault("nonce", NONCE)
    return key_id, sign_request(key_id, secret, REQ["method"], REQ["path"], REQ["query"],
                                REQ["body"], **kw)


def _refused(env: Env, headers: dict[str, str], code: str, **kw: Any) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as exc:
        _verify(env, headers, **kw)
    err = exc.value
    assert (err.status_code, err.code) == (401, code)
    sig = headers.get("X-PGW-Signature", "")
    assert (not sig or sig not in err.message) and "credit-check" not in err.message
    return err


def test_valid_request_is_accepted(env: Env) -> None:
    key_id, headers = _signed(env, "op2")
    p = _verify(env, headers)
    assert p == Principal(id="op2", name="Operator Two", org_uscc=None,
                          roles=("operator", "reviewer"), key_id=key_id)


@pytest.mark.parametrize("change", [
    {"method": "PUT"},
    {"path": "/v1/datasets/companies/query"},
    {"query": "limit=11&cursor=abc"},
    {"query": "limit=10&cursor=abc&extra=1"},
    {"query": "limit=10"},
    {"body": BODY.replace(b"name", b"id_card")},
    {"body": b""},
])
def test_tampered_request_is_refused(env: Env, change: dict[str, Any]) -> None:
    _, headers = _signed(env)
    _refused(env, headers, "bad_signature", **change)


@pytest.mark.parametrize(("header", "value"), [
    ("X-PGW-Timestamp", str(int(NOW.timestamp()) + 1)),
    ("X-PGW-Nonce", "another-nonce-0123456"),
    ("X-PGW-Key-Id", "hk_0000000000000000"),  # unknown key
])
def test_tampered_header_is_refused(env: Env, header: str, value: str) -> None:
    _, headers = _signed(env)
    _refused(env, {**headers, header: value}, "bad_signature")


def test_signature_from_another_key_is_refused(env: Env) -> None:
    _, headers = _signed(env)
    other, _ = create_signing_key(env.engine, env.ring, "op1")
    _refused(env, {**headers, "X-PGW-Key-Id": other}, "bad_signature")


def test_query_is_canonical(env: Env) -> None:
    key_id, secret = create_signing_key(env.engine, env.ring, "op1")
    for i, sent in enumerate(["a=x+y&b=2&b=1", "b=1&a=x%20y&b=2"]):
        headers = sign_request(key_id, secret, "post", "/v1/x", [("b", "2"), ("a", "x y"),
                                                                  ("b", "1")],
                               b"", now=NOW, nonce=f"nonce-query-{i:08d}")
        _verify(env, headers, method="POST", path="/v1/x", query=sent, body=b"")


@pytest.mark.parametrize(("offset", "ok"), [(-299, True), (299, True), (-301, False),
                                            (301, False)])
def test_clock_skew_window(env: Env, offset: int, ok: bool) -> None:
    _, headers = _signed(env, now=NOW + dt.timedelta(seconds=offset))
    if ok:
        _verify(env, headers)
    else:
        _refused(env, headers, "stale_request")


def test_skew_is_configurable(env: Env) -> None:
    _, headers = _signed(env, now=NOW - dt.timedelta(seconds=100))
    with pytest.raises(Unauthenticated, match="60 s"):
        verify_signed_request(env.engine, env.ring, env.nonces(), REQ["method"], REQ["path"],
                              REQ["query"], REQ["body"], headers, NOW, skew_s=60)


def test_replayed_nonce_is_refused_across_workers(env: Env) -> None:
    _, headers = _signed(env)
    worker1, worker2 = env.nonces(), env.nonces()
    _verify(env, headers, nonces=worker1)
    _refused(env, headers, "replayed_nonce", nonces=worker2)
    _refused(env, headers, "replayed_nonce", nonces=worker1,
             now=NOW + dt.timedelta(seconds=200))


def test_refused_signature_does_not_spend_the_nonce(env: Env) -> None:
    _, headers = _signed(env)
    _refused(env, headers, "bad_signature", body=b"forged")
    _verify(env, headers)


@pytest.mark.parametrize(("header", "value", "code"), [
    ("X-PGW-Signature", None, "missing_signature"),
    ("X-PGW-Nonce", "", "missing_signature"),
    ("X-PGW-Nonce", "short", "bad_signature"),
    ("X-PGW-Nonce", "has spaces in it 0123", "bad_signature"),
    ("X-PGW-Nonce", "x" * 65, "bad_signature"),
    ("X-PGW-Timestamp", "yesterday", "bad_signature"),
    ("X-PGW-Key-Id", "../../etc", "bad_signature"),
    ("X-PGW-Signature", "not base64!", "bad_signature"),
])
def test_malformed_headers(env: Env, header: str, value: str | None, code: str) -> None:
    _, headers = _signed(env)
    headers = {k: v for k, v in headers.items() if k != header or value is not None}
    if value is not None:
        headers[header] = value
    _refused(env, headers, code)


def test_header_names_are_case_insensitive(env: Env) -> None:
    _, headers = _signed(env)
    assert _verify(env, {k.lower(): v for k, v in headers.items()}).id == "op1"
