"""Signed requests through a real HTTP stack (FastAPI + httpx): the path and query as
Starlette hands them to the verifier match what the client signed.

No ``from __future__ import annotations``: FastAPI must resolve the local dependency."""

import json
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from gateway.auth import Principal
from gateway.request_auth import create_signing_key, sign_request, verify_signed_request
from tests.request_auth.conftest import Env


def _app(env: Env) -> FastAPI:
    nonces = env.nonces()

    async def signed_principal(request: Request) -> Principal:
        body = await request.body()  # cached: the endpoint can still read it
        return await run_in_threadpool(
            verify_signed_request, env.engine, env.ring, nonces, request.method,
            request.url.path, request.url.query, body, request.headers)

    app = FastAPI()

    @app.post("/v1/datasets/{dataset_id}/query")
    async def query(dataset_id: str, payload: dict[str, object],
                    p: Annotated[Principal, Depends(signed_principal)]) -> dict[str, object]:
        return {"principal": p.id, "dataset": dataset_id, "payload": payload}

    return app


def test_signed_request_over_http(env: Env) -> None:
    key_id, secret = create_signing_key(env.engine, env.ring, "op1")
    client = TestClient(_app(env))
    path = "/v1/datasets/户籍 人口/query"
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("limit", "10"), ("q", "a+b c/中"), ("empty", "")]
    body = json.dumps({"purpose": "核查"}, ensure_ascii=False).encode()
    headers = sign_request(key_id, secret, "POST", path, [(k, str(v)) for k, v in params],
                           body)
    r = client.post(path, params=params, content=body,
                    headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json() == {"principal": "op1", "dataset": "户籍 人口",
                        "payload": {"purpose": "核查"}}
