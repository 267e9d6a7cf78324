"""What the free-text operators need beyond the span: the date, the grant's keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, NoReturn, Protocol

from anonymizers.errors import BadOperatorParams
from anonymizers.fpe import Surrogates, fpe_key
from anonymizers.pseudonym import check_key_id
from keys import DerivedKey

if TYPE_CHECKING:
    from anonymizers.columns import ColumnContext


class TokenRing(Protocol):
    """The part of :class:`keys.KeyRing` the token operator uses (AES-SIV tokens)."""

    def token_encrypt(self, plaintext: bytes, *, context: bytes) -> str: ...

    def token_decrypt(self, token: str, *, context: bytes) -> bytes: ...


class GrantKeys(TokenRing, Protocol):
    """A :class:`keys.KeyRing`: tokens plus per-grant pseudonym keys."""

    def pseudonym_key(self, grant_id: str) -> DerivedKey: ...


@dataclass(frozen=True, eq=False)
class OperatorContext:
    """Date and key material for one release (one grant).

    ``today`` bounds ID birth dates (masking validation). ``pseudonym_key`` /
    ``pseudonym_key_id`` are the grant's derived pseudonym key (``pseudonymize``; the FF1
    key of ``fpe`` is derived from it). ``ring`` and ``grant_id`` serve ``tokenize``.
    Operators that need a missing part refuse to be configured (fail closed).
    """

    today: dt.date
    pseudonym_key: bytes | None = field(default=None, repr=False)
    pseudonym_key_id: str | None = None
    grant_id: str | None = None
    ring: TokenRing | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.pseudonym_key is not None and len(self.pseudonym_key) < 16:
            raise BadOperatorParams("pseudonym key must be at least 16 bytes")
        if self.pseudonym_key_id is not None:
            check_key_id(self.pseudonym_key_id)

    def __reduce__(self) -> NoReturn:
        raise TypeError("OperatorContext holds key material and is not picklable")

    @classmethod
    def for_grant(cls, ring: GrantKeys, grant_id: str, today: dt.date) -> OperatorContext:
        """Everything for ``grant_id`` from the key ring (pseudonym key, FF1 key, tokens)."""
        key = ring.pseudonym_key(grant_id)
        return cls(today, key.secret, key.key_id, grant_id, ring)

    @classmethod
    def from_columns(
        cls, ctx: ColumnContext, *, ring: TokenRing | None = None, grant_id: str | None = None
    ) -> OperatorContext:
        """The same grant key as the structured columns, so a value gets one pseudonym
        whether it sits in a column or in prose."""
        return cls(ctx.today, ctx.pseudonym_key, ctx.pseudonym_key_id, grant_id, ring)

    @cached_property
    def surrogates(self) -> Surrogates:
        """FF1 surrogates under this grant's FPE key (built once)."""
        if self.pseudonym_key is None:
            raise BadOperatorParams("fpe needs the grant's pseudonym key")
        return Surrogates(fpe_key(self.pseudonym_key))
