"""``tokenize``: reversible, deterministic AES-SIV tokens, and :func:`detokenize`.

The span (normalized as for pseudonyms: one token per identifier, however it is spelled)
goes through :meth:`keys.KeyRing.token_encrypt`; the token ``tok.<key id>.<b64url>`` names
the key that made it. The AES-SIV associated data binds the grant id and the entity type,
so a token opens only for the grant and type it was released under, and altered tokens
raise :class:`keys.BadToken`.

:func:`detokenize` is a privileged path. The policy/role gate is the gateway's job: call
it only for a principal whose role the active policy allows to de-tokenize, for the
purpose of correcting wrong public data after an objection (异议), and audit the call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from anonymizers.errors import BadOperatorParams
from anonymizers.pseudonym import normalize
from anonymizers.text_ops.base import TextOperator, context_of, entity_of
from anonymizers.text_ops.context import TokenRing

TOKEN_CONTEXT_LABEL = b"anonymizers/text-token/v1"


def _lp(*fields: bytes) -> bytes:
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def token_context(grant_id: str, entity: str) -> bytes:
    """The associated data of a token: label, grant id and entity type, length-prefixed."""
    return TOKEN_CONTEXT_LABEL + _lp(grant_id.encode(), entity.encode())


def detokenize(ring: TokenRing, token: str, *, grant_id: str, entity: str) -> str:
    """The value behind ``token`` released under ``grant_id`` as ``entity``.

    Raises :class:`keys.BadToken` when the token was altered, made for another grant or
    entity type, or by an unknown or retired key. Only for roles the policy allows (see the
    module docstring); never exposed to licensed operators.
    """
    return ring.token_decrypt(token, context=token_context(grant_id, entity)).decode("utf-8")


class TokenOperator(TextOperator):
    """AES-SIV token via the key ring; needs ``ctx.ring`` and ``ctx.grant_id``."""

    NAME = "tokenize"

    def check(self, entity: str, params: Mapping[str, Any]) -> None:
        """The key ring and the grant id must be in the context."""
        ctx = context_of(params)
        if ctx.ring is None or ctx.grant_id is None:
            raise BadOperatorParams("tokenize needs the key ring and the grant id")

    def operate_batch(self, values: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """One token per span; equal normalized values get equal tokens."""
        if not values:
            return []
        entity = entity_of(params)
        self.check(entity, params)
        ctx = context_of(params)
        assert ctx.ring is not None and ctx.grant_id is not None
        context = token_context(ctx.grant_id, entity)
        canonical = normalize(pa.array(values, pa.string()), entity or None).to_pylist()
        cache: dict[str, str] = {}
        for v in canonical:
            if v not in cache:
                cache[v] = ctx.ring.token_encrypt(v.encode("utf-8"), context=context)
        return [cache[v] for v in canonical]
