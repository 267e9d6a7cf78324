"""Loading a policy directory: content hash, data placement, and the refusals
(forbidden builtins, parse errors, unsafe policy ids) that happen before use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.policy.bundle import PolicyBundle, PolicyLoadError, load_policy_dir
from gateway.policy.opa_server import OpaServerEngine

from .conftest import POLICY_DIR
from .fake_opa import FakeOpaServer


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(POLICY_DIR, tmp_path / "policies"))


def test_repo_policies_load(repo_bundle: PolicyBundle) -> None:
    assert "gateway/decision.rego" in repo_bundle.modules
    assert "gateway/decision_test.rego" in repo_bundle.tests
    assert not any(path.endswith("_test.rego") for path in repo_bundle.modules)
    assert repo_bundle.data["gateway_config"]["k_min"] == 5
    assert len(repo_bundle.hash) == 64


def test_hash_follows_content(policy_copy: Path, repo_bundle: PolicyBundle) -> None:
    assert load_policy_dir(policy_copy) == repo_bundle
    config = policy_copy / "data.json"
    config.write_text(config.read_text().replace('"k_min": 5', '"k_min": 7'))
    assert load_policy_dir(policy_copy).hash != repo_bundle.hash


def test_nested_data_json_lands_at_its_directory(policy_copy: Path) -> None:
    (policy_copy / "gateway" / "profiles").mkdir()
    (policy_copy / "gateway" / "profiles" / "data.json").write_text('{"strict": {"k": 10}}')
    assert load_policy_dir(policy_copy).data["gateway"] == {"profiles": {"strict": {"k": 10}}}


def test_forbidden_builtins_refused_with_file_and_line(policy_copy: Path) -> None:
    (policy_copy / "gateway" / "leak.rego").write_text(
        "package gateway.leak\n"
        "\n"
        '# http.send in a comment is fine, and so is "http.send(" in a string\n'
        'note := "http.send("\n'
        'exfiltrate := http.send({"method": "get", "url": "https://example.com"})\n'
        "env := opa.runtime().env\n"
        "now := time.now_ns()\n"
    )
    with pytest.raises(PolicyLoadError) as err:
        load_policy_dir(policy_copy)
    assert isinstance(err.value, ConfigError)
    assert err.value.reasons == [
        "gateway/leak.rego:5: http.send",
        "gateway/leak.rego:6: opa.runtime",
        "gateway/leak.rego:7: time.now_ns",
    ]


def test_forbidden_builtin_in_a_test_module_refused(policy_copy: Path) -> None:
    (policy_copy / "gateway" / "lookup_test.rego").write_text(
        'package gateway_lookup_test\n\ntest_dns if net.lookup_ip_addr("example.com")\n'
    )
    with pytest.raises(PolicyLoadError, match=r"lookup_test.rego:3: net.lookup_ip_addr"):
        load_policy_dir(policy_copy)


def test_parse_error_names_file_and_line(policy_copy: Path) -> None:
    (policy_copy / "gateway" / "v0.rego").write_text("package gateway.v0\n\nallow { true }\n")
    with pytest.raises(PolicyLoadError, match=r"gateway/v0.rego:3: rego_parse_error"):
        load_policy_dir(policy_copy)


def test_missing_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError):
        load_policy_dir(tmp_path / "nope")


@pytest.mark.parametrize(
    "path",
    [
        "../data/x.rego",
        "a/../../b.rego",
        "/etc/x.rego",
        "a b.rego",
        "a?x=1.rego",
        "a%2e%2e/b.rego",
        "a//b.rego",
        "./a.rego",
    ],
)
def test_unsafe_policy_id_refused_before_any_request(path: str, fake_opa: FakeOpaServer) -> None:
    bundle = PolicyBundle.build({path: "package x\n\ny := 1\n"})
    with pytest.raises(PolicyLoadError, match="unsafe policy id"):
        OpaServerEngine(fake_opa.url, bundle, policy_prefix="")
    assert fake_opa.fake.requests == []


def test_unsafe_data_key_refused_before_any_request(fake_opa: FakeOpaServer) -> None:
    bundle = PolicyBundle.build({"x.rego": "package x\n\ny := 1\n"}, data={"../policies": {}})
    with pytest.raises(PolicyLoadError, match="unsafe data key"):
        OpaServerEngine(fake_opa.url, bundle)
    assert fake_opa.fake.requests == []


def test_push_uploads_source_unchanged_and_removes_stale(
    fake_opa: FakeOpaServer, repo_bundle: PolicyBundle
) -> None:
    old = PolicyBundle.build({"gateway/old.rego": "package gateway.old\n\nx := 1\n"})
    OpaServerEngine(fake_opa.url, old)
    OpaServerEngine(fake_opa.url, repo_bundle)
    assert fake_opa.fake.policies == {f"pgw/{p}": s for p, s in repo_bundle.modules.items()}
    assert fake_opa.fake.data == dict(repo_bundle.data)


def test_push_does_not_rewrite_v0_policies(fake_opa: FakeOpaServer) -> None:
    v0 = PolicyBundle.build({"legacy.rego": "package legacy\n\nallow { true }\n"})
    with pytest.raises(PolicyLoadError, match=r"legacy.rego:3: rego_parse_error"):
        OpaServerEngine(fake_opa.url, v0)
    assert fake_opa.fake.requests == [("PUT", "/v1/policies/pgw/legacy.rego")]


@pytest.mark.parametrize("url", ["127.0.0.1:8181", "ftp://opa", "http://opa:8181/v1", "http://"])
def test_bad_opa_url_refused(url: str, repo_bundle: PolicyBundle) -> None:
    with pytest.raises(ConfigError, match="OPA URL"):
        OpaServerEngine(url, repo_bundle, push=False)
