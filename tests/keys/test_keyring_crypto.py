"""What the ring's outputs promise: signatures, tokens, wrapped blobs, pseudonym keys, MACs."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keys import BadSignature, BadToken, InMemoryKeyStore, KeyRing, MasterKey, Purpose


def _flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def other_ring() -> KeyRing:
    """Another deployment's ring: its keys must not open or verify ours."""
    return KeyRing.open(InMemoryKeyStore(), MasterKey.generate())


# -- signatures --------------------------------------------------------------------------

def test_signatures_carry_their_key_id_and_verify(ring: KeyRing) -> None:
    sig = ring.sign(b"receipt")
    assert sig.key_id.startswith("sig-v1-") and len(sig.sig) == 64
    ring.verify(sig.key_id, b"receipt", sig.sig)


@pytest.mark.parametrize("what", ["data", "signature", "key"])
def test_a_tampered_signature_raises(ring: KeyRing, other_ring: KeyRing, what: str) -> None:
    sig = ring.sign(b"receipt")
    data, raw, kid = b"receipt", sig.sig, sig.key_id
    if what == "data":
        data = b"receipT"
    elif what == "signature":
        raw = _flip(raw, 10)
    else:
        ring.rotate(Purpose.SIGNING)
        kid = ring.sign(b"x").key_id  # right data and signature, another key
    with pytest.raises(InvalidSignature):
        ring.verify(kid, data, raw)
    with pytest.raises(BadSignature):  # the same error, under the package's own tree
        other_ring.verify(sig.key_id, b"receipt", sig.sig)


def test_a_signing_key_id_does_not_verify_as_a_bundle_key(ring: KeyRing) -> None:
    sig = ring.sign(b"x")
    with pytest.raises(InvalidSignature):
        ring.verify_es256(sig.key_id, b"x", sig.sig)
    bundle = ring.sign_es256(b"x")
    with pytest.raises(InvalidSignature):
        ring.verify(bundle.key_id, b"x", bundle.sig)


def test_es256_signatures_verify_with_the_published_key(ring: KeyRing) -> None:
    """What OPA does: take the PEM/JWK published for the kid, check a raw r||s signature."""
    sig = ring.sign_es256(b"bundle manifest")
    assert sig.key_id.startswith("bsig-v1-") and len(sig.sig) == 64
    jwk = next(k for k in ring.public_keys() if k["kid"] == sig.key_id)
    assert (jwk["alg"], jwk["kty"], jwk["crv"], jwk["purpose"]) == ("ES256", "EC", "P-256",
                                                                      "bundle-signing")
    public = serialization.load_pem_public_key(jwk["public_key_pem"].encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    numbers = public.public_numbers()
    assert (_b64url_decode(jwk["x"]), _b64url_decode(jwk["y"])) == (
        numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big"))
    der = encode_dss_signature(int.from_bytes(sig.sig[:32], "big"),
                               int.from_bytes(sig.sig[32:], "big"))
    public.verify(der, b"bundle manifest", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        ring.verify_es256(sig.key_id, b"bundle manifest", sig.sig[:63])


def test_ed25519_public_keys_are_published_as_jwk_and_pem(ring: KeyRing) -> None:
    sig = ring.sign(b"checkpoint")
    jwk = next(k for k in ring.public_keys() if k["kid"] == sig.key_id)
    assert (jwk["alg"], jwk["kty"], jwk["crv"], jwk["status"]) == ("EdDSA", "OKP", "Ed25519",
                                                                    "primary")
    public = ed25519.Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))
    public.verify(sig.sig, b"checkpoint")
    assert "PRIVATE" not in "".join(str(v) for k in ring.public_keys() for v in k.values())
    assert {k["purpose"] for k in ring.public_keys()} == {"signing", "bundle-signing"}


# -- reversible tokens -------------------------------------------------------------------

def test_tokens_are_deterministic_per_context_and_carry_their_key_id(ring: KeyRing) -> None:
    kid = next(i.id for i in ring.list() if i.purpose is Purpose.TOKEN)
    a = ring.token_encrypt(b"110101199003077777", context=b"dataset:huji|grant:g-1")
    assert a.startswith(f"tok.{kid}.")
    assert ring.token_encrypt(b"110101199003077777", context=b"dataset:huji|grant:g-1") == a
    assert ring.token_encrypt(b"110101199003077777", context=b"dataset:huji|grant:g-2") != a
    assert ring.token_decrypt(a, context=b"dataset:huji|grant:g-1") == b"110101199003077777"
    assert ring.token_decrypt(ring.token_encrypt(b"", context=b"c"), context=b"c") == b""


def _tamper_token(token: str) -> str:
    prefix, kid, body = token.split(".")
    raw = _b64url_decode(body)
    return f"{prefix}.{kid}.{base64.urlsafe_b64encode(_flip(raw, 5)).rstrip(b'=').decode()}"


@pytest.mark.parametrize("case", ["tampered", "wrong context", "other ring", "unknown kid",
                                  "malformed", "not base64"])
def test_a_token_that_does_not_open_raises_invalid_tag(ring: KeyRing, other_ring: KeyRing,
                                                       case: str) -> None:
    token = ring.token_encrypt(b"13800138000", context=b"c")
    context = b"c"
    if case == "tampered":
        token = _tamper_token(token)
    elif case == "wrong context":
        context = b"d"
    elif case == "other ring":
        token = other_ring.token_encrypt(b"13800138000", context=b"c")
    elif case == "unknown kid":
        token = token.replace("tok-v1-", "tok-v7-")
    elif case == "malformed":
        token = token.replace("tok.", "tak.")
    else:
        token = token[:-3] + "!!!"
    with pytest.raises(InvalidTag):
        ring.token_decrypt(token, context=context)
    with pytest.raises(BadToken):
        ring.token_decrypt(token, context=context)


# -- envelope encryption -----------------------------------------------------------------

def test_wrap_uses_a_fresh_nonce_and_round_trips(ring: KeyRing) -> None:
    a, b = ring.wrap(b"payload", b"export:42"), ring.wrap(b"payload", b"export:42")
    assert a != b
    kid = next(i.id for i in ring.list() if i.purpose is Purpose.WRAPPING)
    assert kid.encode() in a[:20]
    assert ring.unwrap(a, b"export:42") == ring.unwrap(b, b"export:42") == b"payload"


@pytest.mark.parametrize("case", ["tampered body", "tampered key id", "wrong aad",
                                  "other ring", "truncated"])
def test_a_blob_that_does_not_open_raises_invalid_tag(ring: KeyRing, other_ring: KeyRing,
                                                      case: str) -> None:
    blob, aad = ring.wrap(b"payload", b"export:42"), b"export:42"
    if case == "tampered body":
        blob = _flip(blob, len(blob) - 1)
    elif case == "tampered key id":
        blob = blob.replace(b"wrap-v1-", b"wrap-v2-")
    elif case == "wrong aad":
        aad = b"export:43"
    elif case == "other ring":
        blob = other_ring.wrap(b"payload", b"export:42")
    else:
        blob = blob[:10]
    with pytest.raises(InvalidTag):
        ring.unwrap(blob, aad)


# -- pseudonym, cursor and MAC keys -------------------------------------------------------

def test_two_grants_get_different_pseudonym_keys(ring: KeyRing) -> None:
    a, b = ring.pseudonym_key("g-1"), ring.pseudonym_key("g-2")
    assert a.key_id == b.key_id and a.key_id.startswith("psn-v1-")
    assert a.secret != b.secret and len(a.secret) == 32


def test_the_same_grant_gets_the_same_pseudonym_key_across_requests(ring: KeyRing) -> None:
    assert ring.pseudonym_key("g-1") == ring.pseudonym_key("g-1")
    current = ring.pseudonym_key("g-1")
    assert ring.pseudonym_key_for(current.key_id, "g-1") == current


def test_pseudonyms_of_one_value_differ_between_grants_and_repeat_within_one(
        ring: KeyRing) -> None:
    """End to end with the anonymizer that consumes these keys."""
    import pyarrow as pa

    from anonymizers.pseudonym import pseudonymize

    values = pa.array(["110101199003077777"])

    def token(grant: str) -> str:
        key = ring.pseudonym_key(grant)
        return str(pseudonymize(values, "ID_CARD", key.secret, key.key_id)[0])

    assert token("g-1") == token("g-1")
    assert token("g-1") != token("g-2")
    assert ring.pseudonym_key("g-1").key_id in token("g-1")


def test_cursor_and_mac_keys_are_stable_and_bound_to_their_label(ring: KeyRing) -> None:
    assert ring.cursor_key() == ring.cursor_key()
    assert ring.cursor_key().key_id.startswith("cur-v1-")
    mac = ring.mac("audit-filter", b"110101199003077777")
    assert len(mac) == 32 and mac == ring.mac("audit-filter", b"110101199003077777")
    assert ring.mac("other-label", b"110101199003077777") != mac
    tagged = ring.mac_tagged("audit-filter", b"110101199003077777")
    assert tagged.digest == mac and tagged.key_id.startswith("mac-v1-")
