"""Signed OPA bundles: one policy version as a standard ``.tar.gz`` that OPA and
other gateways can verify before loading.

Layout (every entry a regular file, sorted, mtime 0: a version always gives the
same files; only the ES256 signature, which is randomized, differs between builds)::

    .manifest          {"revision": <version hash>, "roots": [...], "metadata": {"pgw": ...}}
    data.json          the whole data document (root level)
    <path>.rego        the modules (and ``*_test.rego`` with ``include_tests``)
    .signatures.json   {"signatures": ["<JWS compact, ES256>"]}

The JWS follows OPA's "Signature Format" (management-bundles docs,
``v1/bundle/verify.go``): header ``{"alg": "ES256", "kid": <kid>}``, payload
``{"files": [{"name", "hash", "algorithm": "SHA-256"}...], "keyid": <kid>}``
listing every file but ``.signatures.json``. ``.rego`` files are hashed over
their bytes; ``.manifest`` and ``data.json`` over OPA's canonical JSON walk
(``v1/bundle/hash.go``, see :func:`opa_json_digest`).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gateway.policy.bundle import (
    DATA_FILE,
    TEST_SUFFIX,
    PolicyBundle,
    PolicyLoadError,
    check_forbidden_builtins,
    content_hash,
    parse_module,
)
from gateway.policy.opasig import (
    HASH_ALGORITHM,
    MANIFEST,
    SIGNATURES,
    BundleSigner,
    PublicKeys,
    Verifier,
    check_signatures_file,
    compact_json,
    es256_verifier,
    file_digest,
    json_object,
    make_jws,
)

MEDIA_TYPE = "application/gzip"
MAX_BUNDLE_BYTES = 64 << 20  # uncompressed, all files together


def bundle_roots(bundle: PolicyBundle, *, include_tests: bool = False) -> list[str]:
    """The manifest ``roots``: the first segment of every package and every
    top-level data key, sorted."""
    roots = {str(key) for key in bundle.data}
    sources = {**bundle.modules, **(bundle.tests if include_tests else {})}
    for path, source in sources.items():
        parts = parse_module(path, source).get("package", {}).get("path", [])[1:]
        if not parts:
            raise PolicyLoadError(f"{path}: no package")
        roots.add(str(parts[0].get("value")))
    return sorted(roots)


def build_bundle(bundle: PolicyBundle, ring: BundleSigner, *, include_tests: bool = False) -> bytes:
    """The signed OPA bundle (``.tar.gz`` bytes) of ``bundle``, signed with the
    ring's primary ``bundle-signing`` key (``ring.sign_es256``). Test modules are
    left out unless ``include_tests``; the manifest records which."""
    files: dict[str, bytes] = {}
    for path, source in {**bundle.modules, **(bundle.tests if include_tests else {})}.items():
        if path in (MANIFEST, SIGNATURES, DATA_FILE) or not path.endswith(".rego"):
            raise PolicyLoadError(f"module path {path!r} cannot go into a bundle")
        files[path] = source.encode()
    try:
        files[DATA_FILE] = compact_json(dict(bundle.data))
    except ValueError as exc:
        raise PolicyLoadError(f"data document cannot be written as JSON: {exc}") from exc
    pgw = {
        "tests": "included" if include_tests else "excluded",
        "policy_hash": content_hash(bundle.modules, dict(bundle.data), {}),
    }
    manifest = {"revision": bundle.hash, "roots": bundle_roots(bundle, include_tests=include_tests),
                "metadata": {"pgw": pgw}}
    files[MANIFEST] = compact_json(manifest)
    signed = [{"name": name, "hash": file_digest(name, raw), "algorithm": HASH_ALGORITHM}
              for name, raw in sorted(files.items())]
    files[SIGNATURES] = compact_json({"signatures": [make_jws(ring, signed)]})
    return _tar_gz(files)


def _tar_gz(files: Mapping[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def bundle_filename(bundle: PolicyBundle) -> str:
    """``policy-<first 12 hex of the version hash>.tar.gz``."""
    return f"policy-{bundle.hash[:12]}.tar.gz"


def export_bundle(bundle: PolicyBundle, ring: BundleSigner, *,
                  include_tests: bool = False) -> tuple[bytes, dict[str, str]]:
    """Body and headers for ``GET /admin/v1/policies/{version}/bundle``:
    ``Content-Type: application/gzip``, an attachment filename, and the revision
    in ``X-Policy-Revision``."""
    body = build_bundle(bundle, ring, include_tests=include_tests)
    return body, {"Content-Type": MEDIA_TYPE, "X-Policy-Revision": bundle.hash,
                  "Content-Disposition": f'attachment; filename="{bundle_filename(bundle)}"'}


# --- reading and verifying --------------------------------------------------------


def _untar(data: bytes) -> dict[str, bytes]:
    """Regular files of a ``.tar.gz`` by normalized name; refuses links, unsafe
    names, duplicates and oversized archives."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                name = member.name.lstrip("/")
                name = name.removeprefix("./")
                if member.isdir():
                    continue
                if not member.isreg():
                    raise PolicyLoadError(f"bundle entry {name!r} is not a regular file")
                if not name or any(p in ("", ".", "..") for p in name.split("/")):
                    raise PolicyLoadError(f"bundle entry {member.name!r} has an unsafe name")
                if name in files:
                    raise PolicyLoadError(f"bundle entry {name!r} appears twice")
                total += member.size
                if total > MAX_BUNDLE_BYTES:
                    raise PolicyLoadError(f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
                extracted = tar.extractfile(member)
                files[name] = extracted.read() if extracted is not None else b""
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise PolicyLoadError(f"not a readable .tar.gz bundle: {exc}") from exc
    return files


def _check_hashes(files: Mapping[str, bytes], signed: Mapping[str, Mapping[str, Any]]) -> None:
    present = {name for name in files if name != SIGNATURES}
    if missing := sorted(set(signed) - present):
        raise PolicyLoadError(f"file(s) listed in the signature but missing: {', '.join(missing)}")
    if extra := sorted(present - set(signed)):
        raise PolicyLoadError(f"file(s) not covered by the signature: {', '.join(extra)}")
    for name in sorted(present):
        entry = signed[name]
        if entry.get("algorithm") != HASH_ALGORITHM:
            raise PolicyLoadError(f"{name}: hash algorithm {entry.get('algorithm')!r} refused "
                                  f"(only {HASH_ALGORITHM})")
        got = file_digest(name, files[name])
        if str(entry.get("hash", "")).lower() != got:
            raise PolicyLoadError(f"{name}: digest mismatch (signed {entry.get('hash')}, "
                                  f"got {got})", code="policy_bundle_digest")


def read_bundle_info(data: bytes) -> dict[str, Any]:
    """The manifest and the signer's key id of a bundle, WITHOUT verifying anything
    (for display; never load a bundle from this)."""
    files = _untar(data)
    manifest = json_object(MANIFEST, files[MANIFEST]) if MANIFEST in files else {}
    return {"manifest": manifest, "files": sorted(files)}


def verify_bundle(data: bytes, keys: Verifier | PublicKeys,
                  *, scope: str | None = None) -> PolicyBundle:
    """Verify a signed bundle and return its policy version.

    ``keys`` is a verifier ``(kid, data, raw_sig) -> None`` raising on a bad
    signature (``KeyRing.verify_es256``), or published keys (``GET /v1/keys``:
    the list or ``{"keys": [...]}``). Raises :class:`PolicyLoadError` naming the
    reason: unreadable archive, bad/absent signature, unknown key, file missing
    from or not covered by the signature, digest mismatch, bad manifest, revision
    not matching the recomputed hash, forbidden builtins. The returned bundle's
    ``hash`` is the manifest ``revision`` (the version hash)."""
    verify = keys if callable(keys) else es256_verifier(keys)
    files = _untar(data)
    _kid, signed = check_signatures_file(files, verify, scope)
    _check_hashes(files, signed)
    if MANIFEST not in files:
        raise PolicyLoadError(f"bundle has no {MANIFEST}")
    manifest = json_object(MANIFEST, files[MANIFEST])
    modules, tests, data_doc = _contents(files)
    return _checked_bundle(manifest, modules, tests, data_doc)


def _contents(files: Mapping[str, bytes]) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    data_doc: dict[str, Any] = {}
    for name, raw in files.items():
        if name in (MANIFEST, SIGNATURES):
            continue
        if name == DATA_FILE:
            data_doc = json_object(name, raw)
        elif name.endswith(".rego"):
            try:
                source = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyLoadError(f"{name}: not UTF-8") from exc
            (tests if name.endswith(TEST_SUFFIX) else modules)[name] = source
        else:
            raise PolicyLoadError(f"bundle file {name!r} is not supported (only .rego, a root "
                                  f"{DATA_FILE}, {MANIFEST} and {SIGNATURES})")
    return modules, tests, data_doc


def _checked_bundle(manifest: Mapping[str, Any], modules: dict[str, str],
                    tests: dict[str, str], data_doc: dict[str, Any]) -> PolicyBundle:
    revision = manifest.get("revision")
    roots = manifest.get("roots")
    pgw = (manifest.get("metadata") or {}).get("pgw") if isinstance(
        manifest.get("metadata"), dict) else None
    if not isinstance(revision, str) or len(revision) != 64:
        raise PolicyLoadError(f"{MANIFEST}: 'revision' is not a version hash")
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise PolicyLoadError(f"{MANIFEST}: 'roots' is not a list of strings")
    if not isinstance(pgw, dict) or pgw.get("tests") not in ("included", "excluded"):
        raise PolicyLoadError(f"{MANIFEST}: no metadata.pgw (not a gateway policy bundle)")
    if pgw["tests"] == "excluded" and tests:
        raise PolicyLoadError(f"{MANIFEST}: says tests are excluded but the bundle has some")
    candidate = PolicyBundle.build(modules, data_doc, tests)
    wanted = bundle_roots(candidate, include_tests=True)
    if sorted(roots) != wanted:
        raise PolicyLoadError(f"{MANIFEST}: roots {sorted(roots)} do not match the packages "
                              f"and data keys {wanted}")
    if content_hash(modules, data_doc, {}) != pgw.get("policy_hash"):
        raise PolicyLoadError(f"{MANIFEST}: metadata.pgw.policy_hash does not match the modules "
                              f"and data")
    if pgw["tests"] == "included" and candidate.hash != revision:
        raise PolicyLoadError(f"{MANIFEST}: revision {revision[:12]}… is not the recomputed "
                              f"version hash {candidate.hash[:12]}…")
    check_forbidden_builtins(candidate)
    # The version hash covers the tests too; without them it cannot be recomputed,
    # so the signed revision names the version (policy_hash was checked above).
    return PolicyBundle(modules=candidate.modules, data=candidate.data, tests=candidate.tests,
                        hash=revision)


def load_signed_bundle(path: str | Path,
                       keys: Verifier | PublicKeys,
                       *, scope: str | None = None) -> PolicyBundle:
    """Read ``path`` and :func:`verify_bundle` it."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyLoadError(f"cannot read policy bundle {path}: {exc}") from exc
    return verify_bundle(data, keys, scope=scope)


def load_keys_file(path: str | Path) -> list[Mapping[str, Any]]:
    """Published keys from a JSON file as served by ``GET /v1/keys``."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"cannot read bundle keys {path}: {exc}") from exc
    keys: Iterable[Any] = doc.get("keys", []) if isinstance(doc, dict) else doc
    if not isinstance(keys, list):
        raise PolicyLoadError(f"{path}: expected a list of keys or {{\"keys\": [...]}}")
    return keys

