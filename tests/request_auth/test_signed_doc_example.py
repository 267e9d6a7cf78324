"""The Python client in docs/signed-requests.md signs requests the gateway accepts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import Unauthenticated
from gateway.request_auth import canonical_query, create_signing_key, verify_signed_request
from tests.request_auth.conftest import Env

DOC = Path(__file__).resolve().parents[2] / "docs" / "signed-requests.md"


def _doc_client() -> Callable[..., dict[str, str]]:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block, "docs/signed-requests.md lost its Python client"
    scope: dict[str, Any] = {}
    exec(block.group(1), scope)  # noqa: S102 - our own documentation
    fn: Callable[..., dict[str, str]] = scope["pgw_headers"]
    return fn


def test_doc_client_is_accepted(env: Env) -> None:
    pgw_headers = _doc_client()
    key_id, secret = create_signing_key(env.engine, env.ring, "op1")
    body = json.dumps({"fields": ["name"], "purpose": "信用核查"}, ensure_ascii=False).encode()
    params = [("limit", "100"), ("q", "a b"), ("区", "中")]
    path = "/v1/datasets/persons/query"
    headers = pgw_headers(key_id, secret, "post", path, params, body)
    sent_query = "limit=100&q=a+b&%E5%8C%BA=%E4%B8%AD"  # as httpx puts it on the wire
    p = verify_signed_request(env.engine, env.ring, env.nonces(), "POST", path, sent_query,
                              body, headers)
    assert (p.id, p.key_id) == ("op1", key_id)
    with pytest.raises(Unauthenticated):  # and the nonce is spent
        verify_signed_request(env.engine, env.ring, env.nonces(), "POST", path, sent_query,
                              body, headers)


def test_doc_canonical_query_example() -> None:
    assert canonical_query("limit=10&q=a+b&a=%E4%B8%AD") == "a=%E4%B8%AD&limit=10&q=a%20b"
