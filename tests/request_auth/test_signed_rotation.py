"""Signing keys: two active per principal (rotation without downtime), a third refused,
revoked keys and disabled principals refused, secrets never at rest in clear."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from gateway import state
from gateway.auth import Principal
from gateway.errors import Conflict, NotFound, Unauthenticated, Unavailable
from gateway.request_auth import (
    create_signing_key,
    list_signing_keys,
    revoke_signing_key,
    sign_request,
    signing_keys,
    verify_signed_request,
)
from tests.request_auth.conftest import Env

NOW = dt.datetime(2026, 3, 2, 10, 15, 20, tzinfo=dt.UTC)


def _call(env: Env, key_id: str, secret: str, nonce: str) -> Principal:
    headers = sign_request(key_id, secret, "GET", "/v1/grants", "", b"", now=NOW, nonce=nonce)
    return verify_signed_request(env.engine, env.ring, env.nonces(), "GET", "/v1/grants", "",
                                 b"", headers, NOW)


def test_rotation_two_active_third_refused_revoked_rejected(env: Env) -> None:
    old_id, old_secret = create_signing_key(env.engine, env.ring, "op1")
    new_id, new_secret = create_signing_key(env.engine, env.ring, "op1")
    assert _call(env, old_id, old_secret, "rotation-old-0001").key_id == old_id
    assert _call(env, new_id, new_secret, "rotation-new-0001").key_id == new_id

    with pytest.raises(Conflict) as exc:
        create_signing_key(env.engine, env.ring, "op1")
    assert exc.value.code == "signing_key_limit"
    assert f"revoke the oldest ({old_id}) first" in exc.value.message

    revoke_signing_key(env.engine, old_id)
    with pytest.raises(Unauthenticated) as refused:
        _call(env, old_id, old_secret, "rotation-old-0002")
    assert refused.value.code == "key_revoked"
    assert _call(env, new_id, new_secret, "rotation-new-0002").id == "op1"
    third, _ = create_signing_key(env.engine, env.ring, "op1")  # room again
    assert [(k["id"], k["status"]) for k in list_signing_keys(env.engine, "op1")] == [
        (old_id, "revoked"), (new_id, "active"), (third, "active")]
    assert len(list_signing_keys(env.engine, "op2")) == 0  # limits are per principal


def test_disabled_principal_is_refused(env: Env) -> None:
    key_id, secret = create_signing_key(env.engine, env.ring, "op1")
    with env.engine.begin() as conn:
        conn.execute(sa.update(state.principals).where(state.principals.c.id == "op1")
                     .values(status="disabled"))
    with pytest.raises(Unauthenticated) as exc:
        _call(env, key_id, secret, "disabled-principal-01")
    assert exc.value.code == "key_revoked"


def test_unknown_principal_and_key(env: Env) -> None:
    with pytest.raises(NotFound):
        create_signing_key(env.engine, env.ring, "nobody")
    with pytest.raises(NotFound):
        revoke_signing_key(env.engine, "hk_0000000000000000")


def test_secret_is_wrapped_at_rest_and_bound_to_its_principal(env: Env) -> None:
    key_id, secret = create_signing_key(env.engine, env.ring, "op1")
    with env.engine.connect() as conn:
        blob = conn.execute(sa.select(signing_keys.c.secret)
                            .where(signing_keys.c.id == key_id)).scalar_one()
    assert base64.b64decode(secret) not in blob
    # A row moved to another principal no longer opens (the wrap binds the principal).
    with env.engine.begin() as conn:
        conn.execute(sa.update(signing_keys).where(signing_keys.c.id == key_id)
                     .values(principal_id="op2"))
    with pytest.raises(Unavailable) as exc:
        _call(env, key_id, secret, "moved-key-000000001")
    assert exc.value.code == "signing_key_unavailable"


def test_concurrent_creates_never_exceed_two_active(env: Env) -> None:
    start = threading.Barrier(8)

    def create(_: int) -> bool:
        start.wait()
        try:
            create_signing_key(env.engine, env.ring, "op1")
            return True
        except Conflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        created = sum(pool.map(create, range(8)))
    active = [k for k in list_signing_keys(env.engine, "op1") if k["status"] == "active"]
    assert created == len(active) <= 2
