"""Signed checkpoints: ``(origin, size, root, time)`` as a transparency-dev style note.

The signed body is exactly::

    <origin>\\n<size>\\n<base64 root>\\n<time RFC 3339, UTC, seconds>\\n

Signing goes through :class:`Signer`, so the gateway's key ring (``keys/``) holds the key;
the log never sees key material. Every signature carries its key id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.auditlog.entries import as_utc

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class SignatureLike(Protocol):
    """What a signer returns: the key id and the raw signature bytes."""

    @property
    def key_id(self) -> str: ...

    @property
    def sig(self) -> bytes: ...


class Signer(Protocol):
    """One verb: sign bytes, return ``(key_id, sig)`` or an object with those attributes."""

    def sign(self, data: bytes) -> SignatureLike | tuple[str, bytes]: ...


VerifyFn = Callable[[str, bytes, bytes], object]
"""``verify(key_id, data, sig)``: raises (or returns False) when the signature is bad."""


class InvalidCheckpoint(ValueError):
    """A checkpoint's note is malformed or its signature does not verify."""


def _unpack(result: SignatureLike | tuple[str, bytes]) -> tuple[str, bytes]:
    if isinstance(result, tuple):
        key_id, sig = result
    else:
        key_id, sig = result.key_id, result.sig
    return str(key_id), bytes(sig)


def checkpoint_body(origin: str, size: int, root: bytes, time: dt.datetime) -> bytes:
    """The exact bytes a checkpoint signs."""
    if not origin or "\n" in origin:
        raise ValueError("checkpoint origin must be one non-empty line")
    b64 = base64.b64encode(root).decode()
    return f"{origin}\n{size}\n{b64}\n{as_utc(time).strftime(_TIME_FORMAT)}\n".encode()


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head of the audit log."""

    origin: str
    size: int
    root: bytes
    time: dt.datetime
    key_id: str
    signature: bytes

    def body(self) -> bytes:
        """The signed bytes."""
        return checkpoint_body(self.origin, self.size, self.root, self.time)

    def note(self) -> str:
        """Body, blank line, then ``— <key_id> <base64 signature>`` (signed-note layout)."""
        sig = base64.b64encode(self.signature).decode()
        return f"{self.body().decode()}\n\u2014 {self.key_id} {sig}\n"

    def to_json(self) -> dict[str, Any]:
        """JSON form for the API: hashes and signature in standard base64."""
        return {"origin": self.origin, "size": self.size,
                "root": base64.b64encode(self.root).decode(),
                "time": as_utc(self.time).strftime(_TIME_FORMAT), "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode(), "note": self.note()}


def parse_body(body: bytes | str) -> tuple[str, int, bytes, dt.datetime]:
    """``(origin, size, root, time)`` from a signed body; raises InvalidCheckpoint."""
    text = body.decode() if isinstance(body, bytes) else body
    lines = text.split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise InvalidCheckpoint("checkpoint body must be four lines")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        time = dt.datetime.strptime(lines[3], _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except (ValueError, binascii.Error):
        raise InvalidCheckpoint("checkpoint body is malformed") from None
    if size < 0 or len(root) != 32 or str(size) != lines[1]:
        raise InvalidCheckpoint("checkpoint body is malformed")
    return lines[0], size, root, time


def parse_note(note: str) -> Checkpoint:
    """Parse :meth:`Checkpoint.note` text (signature not checked here)."""
    body, sep, sigline = note.rpartition("\n\n\u2014 ")
    if not sep:
        raise InvalidCheckpoint("checkpoint note has no signature line")
    origin, size, root, time = parse_body(body + "\n")
    parts = sigline.rstrip("\n").split(" ")
    if len(parts) != 2:
        raise InvalidCheckpoint("checkpoint signature line is malformed")
    try:
        sig = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise InvalidCheckpoint("checkpoint signature is not base64") from None
    return Checkpoint(origin, size, root, time, parts[0], sig)


def sign_checkpoint(signer: Signer, origin: str, size: int, root: bytes,
                    time: dt.datetime) -> Checkpoint:
    """Sign ``(origin, size, root, time)``; time is kept to whole seconds, as signed."""
    time = as_utc(time).replace(microsecond=0)
    key_id, sig = _unpack(signer.sign(checkpoint_body(origin, size, root, time)))
    return Checkpoint(origin, size, root, time, key_id, sig)


def verify_checkpoint(cp: Checkpoint, verify: VerifyFn, *, origin: str | None = None,
                      root: bytes | None = None) -> None:
    """Check the signature (and, if given, the origin and the expected root)."""
    try:
        ok = verify(cp.key_id, cp.body(), cp.signature)
    except Exception:  # noqa: BLE001 - any failure of the verifier is a bad signature, by design
        raise InvalidCheckpoint(f"checkpoint at size {cp.size}: bad signature") from None
    if ok is False:
        raise InvalidCheckpoint(f"checkpoint at size {cp.size}: bad signature")
    if origin is not None and cp.origin != origin:
        raise InvalidCheckpoint(f"checkpoint at size {cp.size}: unexpected origin")
    if root is not None and not hmac.compare_digest(cp.root, root):
        raise InvalidCheckpoint(f"checkpoint at size {cp.size}: root does not match the log")
