"""The key ring: versioned keys per purpose, sealed under the master key in a ``KeyStore``.

Lifecycle of a key (Tink / Vault transit style):

- ``primary``: the one key of its purpose that makes new output (signs, encrypts, derives
  per-grant keys, MACs). ``rotate(purpose)`` adds version n+1 as primary.
- ``active``: a former primary. Still verifies, decrypts, and re-derives its per-grant /
  cursor / MAC keys, so receipts, tokens and pseudonyms made before a rotation keep working.
- ``retired`` (``retire(key_id)``; the primary cannot be retired, rotate first). A retired
  key makes nothing new, whatever its kind. Then:

  * signing keys (``signing``, ``bundle-signing``) still VERIFY, and their public keys stay
    in ``public_keys()`` with ``"status": "retired"``: receipts and audit checkpoints must
    stay checkable for the whole retention period (≥ 3 years for provision records), and a
    public key cannot be abused to forge anything;
  * secret keys (``pseudonym``, ``token``, ``wrapping``, ``cursor``, ``mac``) stop working
    entirely: no decrypting, no re-deriving pseudonym keys for tracing. Retiring a secret
    key is how reversibility ends (crypto-shredding of its tokens) or how a suspect key is
    taken out of use; re-wrap data and finish tracing before retiring.

  Nothing is deleted: the sealed row stays, so the decision can be reviewed.

Replicas share one store. Each holds an immutable snapshot of the decrypted ring, replaced
by ``refresh()``; a replica that meets a key id it does not know (a receipt signed by a key
another replica just rotated in) refreshes once, at most every few seconds, before failing.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import threading
import time
from typing import NoReturn

from keys import derive, signing, tokens
from keys.derive import DerivedKey, KeyedHash
from keys.errors import (
    BadCiphertext,
    BadSignature,
    BadToken,
    KeyConflict,
    KeyRetired,
    KeyRingError,
    UnknownKey,
)
from keys.master import MasterKey
from keys.material import AsymmetricKey, RingKey, SymmetricKey
from keys.records import KEY_ID, KeyInfo, KeyRecord, KeyStatus, Purpose, parse_purpose
from keys.signing import Signature
from keys.snapshot import Snapshot, create_missing, load_snapshot, new_record
from keys.store import KeyStore

log = logging.getLogger(__name__)

_MISS_REFRESH_SECONDS = 5.0  # bounds store reads caused by unknown (possibly forged) ids
_ROTATE_ATTEMPTS = 5
_PURPOSE_ORDER = {p: i for i, p in enumerate(Purpose)}


class KeyRing:
    """All keys of the gateway. Build it with :meth:`open`."""

    __slots__ = ("_last_miss", "_lock", "_master", "_snap", "_store")
    _snap: Snapshot

    def __init__(self, master: MasterKey, store: KeyStore) -> None:
        """Open the ring in ``store``, creating version 1 of any missing purpose."""
        self._master = master
        self._store = store
        self._lock = threading.Lock()
        self._last_miss = float("-inf")
        create_missing(self._store, self._master)
        self._snap = load_snapshot(self._store, self._master)

    @classmethod
    def open(cls, store: KeyStore, master: MasterKey) -> KeyRing:
        """Open (and on first use initialise) the ring in ``store``. Raises
        :class:`~keys.errors.MasterKeyError` if ``master`` does not open it."""
        return cls(master, store)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._snap.keys)} keys, <redacted>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeyRing holds key material and cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("KeyRing holds key material and cannot be pickled")

    # -- lifecycle ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the ring from the store (rotations and retirements by other replicas)."""
        with self._lock:
            self._snap = load_snapshot(self._store, self._master)

    def rotate(self, purpose: Purpose | str) -> str:
        """Add the next version of ``purpose`` as its primary; returns the new key id."""
        purpose = parse_purpose(purpose)
        for _ in range(_ROTATE_ATTEMPTS):
            latest = max((r.version for r in self._store.load() if r.purpose == purpose),
                         default=0)
            record = new_record(self._master, purpose, latest + 1)
            try:
                self._store.add(record)
            except KeyConflict:
                continue  # another replica rotated meanwhile: take the next version
            log.info("rotated %s: %s is primary", purpose.value, record.id)
            self.refresh()
            return record.id
        raise KeyConflict(f"could not rotate {purpose.value}: {_ROTATE_ATTEMPTS} concurrent "
                          f"rotations in a row")

    def retire(self, key_id: str) -> KeyInfo:
        """Retire a non-primary key (see the module docstring for what it still does)."""
        record = self._record(key_id)
        if record.status is KeyStatus.PRIMARY:
            raise KeyConflict(f"{key_id} is the primary {record.purpose} key: rotate first "
                              f"(pgw keys rotate --purpose {record.purpose}), then retire it")
        if record.status is KeyStatus.ACTIVE:
            try:
                self._store.update_status(key_id, KeyStatus.RETIRED, expected=KeyStatus.ACTIVE,
                                          at=dt.datetime.now(dt.UTC))
            except KeyConflict:
                if self._record(key_id).status is not KeyStatus.RETIRED:
                    raise  # retired concurrently is fine: that is what was asked
            log.info("retired key %s", key_id)
        self.refresh()
        return self._record(key_id).info()

    def list(self) -> builtins.list[KeyInfo]:
        """Every key's public facts, by purpose then version. No secrets."""
        return sorted((k.info for k in self._snap.keys.values()),
                      key=lambda i: (_PURPOSE_ORDER[i.purpose], i.version))

    # -- signatures ---------------------------------------------------------------------

    def sign(self, data: bytes) -> Signature:
        """Ed25519-sign ``data`` with the primary ``signing`` key."""
        return signing.sign(self._asym(self._primary(Purpose.SIGNING)), data)

    def verify(self, key_id: str, data: bytes, sig: bytes) -> None:
        """Raise :class:`~keys.errors.BadSignature` (an ``InvalidSignature``) unless ``sig``
        is ``key_id``'s Ed25519 signature of ``data``. Retired keys still verify."""
        signing.verify(self._verifier(key_id, Purpose.SIGNING), data, sig)

    def sign_es256(self, data: bytes) -> Signature:
        """ES256-sign ``data`` with the primary ``bundle-signing`` key; raw ``r || s``."""
        return signing.sign(self._asym(self._primary(Purpose.BUNDLE_SIGNING)), data)

    def verify_es256(self, key_id: str, data: bytes, sig: bytes) -> None:
        """Verify a raw ``r || s`` ES256 signature by a ``bundle-signing`` key."""
        signing.verify(self._verifier(key_id, Purpose.BUNDLE_SIGNING), data, sig)

    def public_keys(self) -> builtins.list[dict[str, str]]:
        """JWKs (plus ``purpose``, ``status``, ``public_key_pem``) of every signing and
        bundle-signing key, retired ones included so old signatures stay checkable."""
        return [signing.jwk(self._asym(self._snap.keys[i.id])) for i in self.list()
                if i.purpose in (Purpose.SIGNING, Purpose.BUNDLE_SIGNING)]

    # -- reversible tokens and wrapping -------------------------------------------------

    def token_encrypt(self, plaintext: bytes, *, context: bytes) -> str:
        """Deterministic AES-SIV token ``tok.<kid>.<b64url>`` bound to ``context``."""
        return tokens.token_encrypt(self._sym(self._primary(Purpose.TOKEN)), plaintext, context)

    def token_decrypt(self, token: str, *, context: bytes) -> bytes:
        """Open a token; :class:`~keys.errors.BadToken` (an ``InvalidTag``) if it was
        altered, made under another context, or by an unknown or retired key."""
        kid = tokens.token_key_id(token)
        return tokens.token_decrypt(self._secret(kid, Purpose.TOKEN, BadToken), token, context)

    def wrap(self, data: bytes, aad: bytes) -> bytes:
        """AES-256-GCM-encrypt ``data`` under the primary ``wrapping`` key, bound to ``aad``."""
        return tokens.wrap(self._sym(self._primary(Purpose.WRAPPING)), data, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a :meth:`wrap` blob; :class:`~keys.errors.BadCiphertext` on mismatch."""
        kid = tokens.wrapped_key_id(blob)
        return tokens.unwrap(self._secret(kid, Purpose.WRAPPING, BadCiphertext), blob, aad)

    # -- derived keys -------------------------------------------------------------------

    def pseudonym_key(self, grant_id: str) -> DerivedKey:
        """The per-grant pseudonym key under the primary root; ``key_id`` names the root."""
        return derive.pseudonym_key(self._sym(self._primary(Purpose.PSEUDONYM)), grant_id)

    def pseudonym_key_for(self, key_id: str, grant_id: str) -> DerivedKey:
        """The per-grant key under an older (non-retired) root: to check or trace
        pseudonyms released before a rotation."""
        return derive.pseudonym_key(self._secret(key_id, Purpose.PSEUDONYM), grant_id)

    def cursor_key(self) -> DerivedKey:
        """The pagination-cursor HMAC key under the primary ``cursor`` root."""
        return derive.cursor_key(self._sym(self._primary(Purpose.CURSOR)))

    def cursor_key_for(self, key_id: str) -> DerivedKey:
        """The cursor key under an older (non-retired) root."""
        return derive.cursor_key(self._secret(key_id, Purpose.CURSOR))

    def mac(self, purpose: str, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the primary ``mac`` root's key for the label
        ``purpose`` (e.g. ``"audit-filter"``)."""
        return self.mac_tagged(purpose, message).digest

    def mac_tagged(self, purpose: str, message: bytes) -> KeyedHash:
        """Like :meth:`mac`, with the id of the root that made it (store both)."""
        return derive.keyed_hash(self._sym(self._primary(Purpose.MAC)), purpose, message)

    def mac_for(self, key_id: str, purpose: str, message: bytes) -> bytes:
        """The MAC under an older (non-retired) root: to search entries made before a
        rotation."""
        return derive.keyed_hash(self._secret(key_id, Purpose.MAC), purpose, message).digest

    # -- internals ----------------------------------------------------------------------

    def _record(self, key_id: str) -> KeyRecord:
        for record in self._store.load():
            if record.id == key_id:
                return record
        raise UnknownKey(f"no key {key_id!r}")

    def _primary(self, purpose: Purpose) -> RingKey:
        snap = self._snap
        return snap.keys[snap.primary[purpose]]

    def _get(self, key_id: str, purpose: Purpose) -> RingKey:
        key = self._snap.keys.get(key_id)
        if key is None and KEY_ID.fullmatch(key_id) and self._may_refresh_on_miss():
            self.refresh()
            key = self._snap.keys.get(key_id)
        if key is None or key.info.purpose is not purpose:
            raise UnknownKey(f"no {purpose.value} key {key_id!r}")
        return key

    def _may_refresh_on_miss(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last_miss < _MISS_REFRESH_SECONDS:
                return False
            self._last_miss = now
            return True

    def _verifier(self, key_id: str, purpose: Purpose) -> AsymmetricKey:
        try:
            return self._asym(self._get(key_id, purpose))
        except UnknownKey as exc:
            raise BadSignature(str(exc)) from None

    def _secret(self, key_id: str, purpose: Purpose,
                error: type[KeyRingError] | None = None) -> SymmetricKey:
        """A non-retired secret key; with ``error``, failures are raised as that type (so
        decrypting callers see one ``InvalidTag`` kind whatever went wrong)."""
        try:
            key = self._sym(self._get(key_id, purpose))
            key.check_usable("be used")
        except (UnknownKey, KeyRetired) as exc:
            if error is None:
                raise
            raise error(str(exc)) from None
        return key

    @staticmethod
    def _asym(key: RingKey) -> AsymmetricKey:
        if not isinstance(key, AsymmetricKey):
            raise KeyRingError(f"key {key.info.id} is not a key pair")
        return key

    @staticmethod
    def _sym(key: RingKey) -> SymmetricKey:
        if not isinstance(key, SymmetricKey):
            raise KeyRingError(f"key {key.info.id} is not a secret key")
        return key
