"""A gateway started from a signed bundle (GATEWAY_POLICY_BUNDLE) decides with it, and
refuses to start (readyz 503, every decision refused) when the bundle is not intact."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway import state
from gateway.api.app import create_app
from gateway.cli import app as cli
from gateway.errors import PolicyUnavailable
from gateway.policy.bundle import PolicyBundle
from gateway.policy.opabundle import build_bundle
from gateway.services import Services, open_keyring
from gateway.settings import Settings
from keys import InMemoryKeyStore, KeyRing, MasterKey
from tests.policy.cases import CASES

from .conftest import POLICY_DIR, retar, untar


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    secret = base64.b64encode(MasterKey.generate().secret()).decode()
    return Settings(data_dir=tmp_path / "data", master_key=secret, detector="none",
                    safety_net=False)


def _local_ring(settings: Settings) -> KeyRing:
    """The ring the gateway itself will open (same state database and master key)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = state.make_engine(settings.resolved_state_url())
    state.create_schema(engine)
    try:
        return open_keyring(settings, engine)
    finally:
        engine.dispose()


def _start(settings: Settings) -> Services:
    return Services.build(settings)


def test_gateway_decides_with_a_valid_signed_bundle(settings: Settings, policy: PolicyBundle,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "policy.tar.gz"
    path.write_bytes(build_bundle(policy, _local_ring(settings)))
    svc = _start(settings.model_copy(update={"policy_bundle": path, "policy_dir": tmp_path}))
    try:
        assert "policy" not in svc.problems
        assert svc.policy.version() == policy.hash
        case = CASES[0]
        assert dict(svc.policy.decide(case.input).raw) == case.expected
    finally:
        svc.close()


def test_bundle_from_another_authority_with_published_keys(
        settings: Settings, policy: PolicyBundle, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    authority = KeyRing.open(InMemoryKeyStore(), MasterKey.generate())
    path = tmp_path / "policy.tar.gz"
    path.write_bytes(build_bundle(policy, authority))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": authority.public_keys()}))
    monkeypatch.setenv("GATEWAY_POLICY_BUNDLE", str(path))
    monkeypatch.setenv("GATEWAY_POLICY_BUNDLE_KEYS", str(keys))
    from_env = Settings(data_dir=settings.data_dir, master_key=settings.master_key,
                        detector="none", safety_net=False)
    assert from_env.policy_bundle == path and from_env.policy_bundle_keys == keys
    with TestClient(create_app(from_env)) as client:
        r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["policy"]["version"] == policy.hash
    # the local ring did not sign it: without the published keys it is refused
    svc = _start(from_env.model_copy(update={"policy_bundle_keys": None}))
    try:
        assert "does not verify under key" in svc.problems["policy"]
    finally:
        svc.close()


def test_tampered_bundle_refuses_to_start(settings: Settings, policy: PolicyBundle,
                                          tmp_path: Path) -> None:
    files = untar(build_bundle(policy, _local_ring(settings)))
    files["gateway/decision.rego"] = files["gateway/decision.rego"].replace(
        b"\"allow\": false,", b"\"allow\": true, ", 1)
    path = tmp_path / "tampered.tar.gz"
    path.write_bytes(retar(files))
    bad = settings.model_copy(update={"policy_bundle": path})
    with TestClient(create_app(bad)) as client:
        r = client.get("/readyz")
        svc: Services = client.app.state.services  # type: ignore[attr-defined]
        with pytest.raises(PolicyUnavailable) as err:
            svc.policy.decide(CASES[0].input)
    assert r.status_code == 503
    why = r.json()["checks"]["policy"]["error"]
    assert "gateway/decision.rego: digest mismatch" in why
    assert err.value.code == "policy_not_loaded"


def test_missing_bundle_file_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    svc = _start(settings.model_copy(update={"policy_bundle": tmp_path / "absent.tar.gz"}))
    try:
        assert "cannot read policy bundle" in svc.problems["policy"]
        assert svc.policy.name == "unloaded"
    finally:
        svc.close()


def test_cli_bundle_and_verify(settings: Settings, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.master_key is not None
    monkeypatch.setenv("GATEWAY_MASTER_KEY", settings.master_key.get_secret_value())
    monkeypatch.setenv("GATEWAY_DETECTOR", "none")
    out = tmp_path / "b.tar.gz"
    dd = ["--data-dir", str(settings.data_dir)]
    runner = CliRunner()
    res = runner.invoke(cli, ["policy", "bundle", str(POLICY_DIR), "--out", str(out), *dd])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["policy", "verify-bundle", str(out), *dd])
    assert res.exit_code == 0 and res.output.startswith("OK "), res.output
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(_local_ring(settings).public_keys()))
    res = runner.invoke(cli, ["policy", "verify-bundle", str(out), "--keys", str(keys)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["policy", "bundle", "active", "--include-tests",
                              "--out", str(out), *dd])
    assert res.exit_code == 0, res.output
    files = untar(out.read_bytes())
    files["data.json"] = files["data.json"].replace(b'"k_min":5', b'"k_min":1')
    out.write_bytes(retar(files))
    res = runner.invoke(cli, ["policy", "verify-bundle", str(out), *dd])
    assert res.exit_code == 1 and "INVALID: data.json: digest mismatch" in res.output
