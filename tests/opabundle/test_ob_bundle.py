"""Signed OPA bundles: layout, OPA's signature format, and every way a bundle is refused."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import pytest
from opa_bindings import OpaEngine

from gateway.policy.bundle import PolicyBundle, PolicyLoadError
from gateway.policy.opabundle import build_bundle, bundle_filename, export_bundle, verify_bundle
from gateway.policy.opasig import file_digest, opa_json_digest
from keys import InMemoryKeyStore, KeyRing, MasterKey

from .conftest import retar, untar


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt(files: dict[str, bytes]) -> tuple[dict, dict, str]:  # type: ignore[type-arg]
    token = json.loads(files[".signatures.json"])["signatures"][0]
    head, payload, _ = token.split(".")
    return json.loads(_b64d(head)), json.loads(_b64d(payload)), token


def test_round_trip_keeps_the_version(policy: PolicyBundle, ring: KeyRing) -> None:
    data = build_bundle(policy, ring)
    got = verify_bundle(data, ring.verify_es256)
    assert got.hash == policy.hash
    assert dict(got.modules) == dict(policy.modules)
    assert dict(got.data) == dict(policy.data)
    assert not got.tests
    assert bundle_filename(policy) == f"policy-{policy.hash[:12]}.tar.gz"
    body, headers = export_bundle(policy, ring)
    assert headers["X-Policy-Revision"] == policy.hash
    assert bundle_filename(policy) in headers["Content-Disposition"]
    assert verify_bundle(body, ring.verify_es256).hash == policy.hash


def test_round_trip_with_tests_recomputes_the_version_hash(policy: PolicyBundle,
                                                           ring: KeyRing) -> None:
    got = verify_bundle(build_bundle(policy, ring, include_tests=True), ring.public_keys())
    assert dict(got.tests) == dict(policy.tests)
    assert PolicyBundle.build(got.modules, got.data, got.tests).hash == policy.hash


def test_layout_manifest_and_signature_format(policy: PolicyBundle, ring: KeyRing) -> None:
    files = untar(build_bundle(policy, ring))
    assert sorted(files) == sorted([".manifest", ".signatures.json", "data.json",
                                    *policy.modules])
    manifest = json.loads(files[".manifest"])
    assert manifest["revision"] == policy.hash
    assert manifest["roots"] == ["gateway", "gateway_config"]
    header, payload, _ = _jwt(files)
    kid = next(k["kid"] for k in ring.public_keys() if k["purpose"] == "bundle-signing")
    assert header["alg"] == "ES256" and header["kid"] == kid
    assert payload["keyid"] == kid
    listed = {f["name"]: f for f in payload["files"]}
    assert sorted(listed) == sorted(n for n in files if n != ".signatures.json")
    assert all(f["algorithm"] == "SHA-256" for f in listed.values())
    rego = "gateway/decision.rego"
    assert listed[rego]["hash"] == hashlib.sha256(files[rego]).hexdigest()
    assert listed["data.json"]["hash"] == opa_json_digest(files["data.json"])


def test_opa_itself_verifies_the_jwt(policy: PolicyBundle, ring: KeyRing) -> None:
    """OPA's own JWS code (io.jwt.verify_es256, io.jwt.decode) accepts the token."""
    _, _, token = _jwt(untar(build_bundle(policy, ring)))
    pem = next(k["public_key_pem"] for k in ring.public_keys() if k["alg"] == "ES256")
    other = KeyRing.open(InMemoryKeyStore(), MasterKey.generate())
    other_pem = next(k["public_key_pem"] for k in other.public_keys() if k["alg"] == "ES256")
    engine = OpaEngine()
    try:
        rows = engine.eval_query(
            "ok := io.jwt.verify_es256(input.t, input.pem); "
            "bad := io.jwt.verify_es256(input.t, input.other); "
            "[h, p, _] := io.jwt.decode(input.t)",
            {"t": token, "pem": pem, "other": other_pem})
    finally:
        engine.close()
    assert rows[0]["ok"] is True and rows[0]["bad"] is False
    assert rows[0]["h"]["alg"] == "ES256"
    assert {f["name"] for f in rows[0]["p"]["files"]} >= {".manifest", "data.json"}


def test_json_digest_is_opas_canonical_walk() -> None:
    """Keys sorted, compact, numbers as written, U+2028 escaped like Go's encoder."""
    raw = '{ "b": [1, 2.50, "x\u2028<&>", null],\n  "a": true, "é": {"z": 1e3, "y": "\\n"} }'
    canonical = '{"a":true,"b":[1,2.50,"x\\u2028<&>",null],"é":{"y":"\\n","z":1e3}}'
    assert opa_json_digest(raw.encode()) == hashlib.sha256(canonical.encode()).hexdigest()
    pretty = json.dumps(json.loads(raw), indent=4, ensure_ascii=True)
    assert opa_json_digest(pretty.encode()) != opa_json_digest(raw.encode())  # 2.50 -> 2.5
    assert file_digest("a/data.json", b'{"k": [1]}') == file_digest("a/data.json", b'{"k":[1]}')
    assert file_digest("x.rego", b"a") == hashlib.sha256(b"a").hexdigest()


def _tampered(data: bytes, name: str, change: bytes | None) -> bytes:
    files = untar(data)
    if change is None:
        del files[name]
    else:
        files[name] = change
    return retar(files)


@pytest.mark.parametrize(("name", "mutate", "reason"), [
    ("gateway/decision.rego", lambda b: b.replace(b"package gateway", b"package gatewaY", 1),
     "gateway/decision.rego: digest mismatch"),
    ("data.json", lambda b: b.replace(b'"k_min":5', b'"k_min":1', 1), "data.json: digest mismatch"),
    (".manifest", lambda b: b.replace(b'"revision":"', b'"revision":"0', 1)[:-1] + b"}",
     ".manifest: digest mismatch"),
    ("gateway/grant/grant.rego", None, "listed in the signature but missing"),
])
def test_tampered_file_is_refused(policy: PolicyBundle, ring: KeyRing, name: str,
                                  mutate: object, reason: str) -> None:
    data = build_bundle(policy, ring)
    raw = untar(data)[name]
    change = None if mutate is None else mutate(raw)  # type: ignore[operator]
    assert change != raw
    with pytest.raises(PolicyLoadError, match=reason):
        verify_bundle(_tampered(data, name, change), ring.verify_es256)


def test_extra_file_is_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    files = untar(build_bundle(policy, ring))
    files["gateway/extra.rego"] = b"package gateway.extra\nx := 1\n"
    with pytest.raises(PolicyLoadError, match="not covered by the signature: gateway/extra.rego"):
        verify_bundle(retar(files), ring.verify_es256)


def test_altered_signature_is_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    files = untar(build_bundle(policy, ring))
    head, payload, sig = json.loads(files[".signatures.json"])["signatures"][0].split(".")
    raw = bytearray(_b64d(sig))
    raw[5] ^= 1
    bad = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    files[".signatures.json"] = json.dumps({"signatures": [f"{head}.{payload}.{bad}"]}).encode()
    with pytest.raises(PolicyLoadError, match="signature does not verify"):
        verify_bundle(retar(files), ring.verify_es256)


def test_rewritten_payload_is_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    """Re-hashing a tampered file into the payload breaks the signature."""
    files = untar(build_bundle(policy, ring))
    head, payload, sig = json.loads(files[".signatures.json"])["signatures"][0].split(".")
    doc = json.loads(_b64d(payload))
    files["gateway/decision.rego"] += b"\n# changed\n"
    for entry in doc["files"]:
        entry["hash"] = file_digest(entry["name"], files[entry["name"]])
    new = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    files[".signatures.json"] = json.dumps({"signatures": [f"{head}.{new}.{sig}"]}).encode()
    with pytest.raises(PolicyLoadError, match="signature does not verify"):
        verify_bundle(retar(files), ring.verify_es256)


def test_unknown_key_is_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    other = KeyRing.open(InMemoryKeyStore(), MasterKey.generate())
    data = build_bundle(policy, other)
    with pytest.raises(PolicyLoadError, match="does not verify under key"):
        verify_bundle(data, ring.verify_es256)
    with pytest.raises(PolicyLoadError, match="unknown bundle-signing key"):
        verify_bundle(data, ring.public_keys())


def test_wrong_kid_is_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    """A signature claimed for another (real) key of the same ring does not verify."""
    old = next(k["kid"] for k in ring.public_keys() if k["purpose"] == "bundle-signing")
    before = build_bundle(policy, ring)
    ring.rotate("bundle-signing")
    files = untar(build_bundle(policy, ring))
    head, payload, sig = json.loads(files[".signatures.json"])["signatures"][0].split(".")
    header = json.loads(_b64d(head))
    header["kid"] = old
    new_head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    doc = json.loads(_b64d(payload))
    doc["keyid"] = old
    new_payload = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    files[".signatures.json"] = json.dumps(
        {"signatures": [f"{new_head}.{new_payload}.{sig}"]}).encode()
    with pytest.raises(PolicyLoadError, match=f"does not verify under key '{old}'"):
        verify_bundle(retar(files), ring.verify_es256)
    # while a bundle signed by the old key before the rotation still verifies
    assert verify_bundle(before, ring.verify_es256).hash == policy.hash


@pytest.mark.parametrize("alg", ["none", "HS256", "EdDSA"])
def test_other_algorithms_are_refused(policy: PolicyBundle, ring: KeyRing, alg: str) -> None:
    files = untar(build_bundle(policy, ring))
    _, payload, sig = json.loads(files[".signatures.json"])["signatures"][0].split(".")
    head = base64.urlsafe_b64encode(json.dumps({"alg": alg}).encode()).rstrip(b"=").decode()
    files[".signatures.json"] = json.dumps({"signatures": [f"{head}.{payload}.{sig}"]}).encode()
    with pytest.raises(PolicyLoadError, match="only ES256"):
        verify_bundle(retar(files), ring.verify_es256)


def test_unsigned_bundle_is_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    with pytest.raises(PolicyLoadError, match="not signed"):
        verify_bundle(_tampered(build_bundle(policy, ring), ".signatures.json", None),
                      ring.verify_es256)


def test_revision_must_be_the_recomputed_hash(policy: PolicyBundle, ring: KeyRing) -> None:
    lying = PolicyBundle(modules=policy.modules, data=policy.data, tests=policy.tests,
                         hash="0" * 64)
    with pytest.raises(PolicyLoadError, match="not the recomputed version hash"):
        verify_bundle(build_bundle(lying, ring, include_tests=True), ring.verify_es256)


def test_forbidden_builtin_is_refused_even_when_signed(ring: KeyRing) -> None:
    bad = PolicyBundle.build({"gateway/x.rego": 'package gateway\nd := http.send({"url": "x"})\n'})
    with pytest.raises(PolicyLoadError, match="http.send"):
        verify_bundle(build_bundle(bad, ring), ring.verify_es256)


def test_unsafe_archives_are_refused(policy: PolicyBundle, ring: KeyRing) -> None:
    files = untar(build_bundle(policy, ring))
    with pytest.raises(PolicyLoadError, match="unsafe name"):
        verify_bundle(retar({**files, "../evil.rego": b"x"}), ring.verify_es256)

    def link(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("gateway/link.rego")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)

    with pytest.raises(PolicyLoadError, match="not a regular file"):
        verify_bundle(retar(files, extra=link), ring.verify_es256)
    with pytest.raises(PolicyLoadError, match="not a readable .tar.gz"):
        verify_bundle(b"not a bundle", ring.verify_es256)
    with pytest.raises(PolicyLoadError, match="not a readable .tar.gz"):
        verify_bundle(io.BytesIO(build_bundle(policy, ring)).getvalue()[:200], ring.verify_es256)
