"""Every engine fails closed: no answer in time, an engine error, an undefined or
malformed decision all raise PolicyUnavailable (the gateway answers 503, deny)."""

from __future__ import annotations

import pytest

from gateway.errors import PolicyUnavailable
from gateway.policy.bundle import PolicyBundle, PolicyLoadError
from gateway.policy.embedded import EmbeddedOpaEngine
from gateway.policy.opa_server import OpaServerEngine

from .cases import grant, make_input
from .conftest import EngineFactory
from .fake_opa import FakeOpaServer

_ALLOW = '{"allow": true, "reasons": [], "fields": {}, "row_filter": [], "modes": ["rows"]}'


def _bundle(body: str) -> PolicyBundle:
    return PolicyBundle.build({"gateway/decision.rego": f"package gateway\n\n{body}\n"})


SLOW = _bundle(f"decision := {_ALLOW} if count([x | some x in numbers.range(1, input.n)]) > 0")
BUILTIN_ERROR = _bundle(f"decision := {_ALLOW} if 1 / input.zero > 0")
LEAKY_ERROR = _bundle(f"decision := {_ALLOW} if to_number(input.name) > 0")
UNDEFINED = _bundle("allow := true")
MALFORMED = _bundle('decision := {"allow": "yes"}')


def test_timeout_is_denied(make_engine: EngineFactory) -> None:
    engine = make_engine(SLOW, timeout_s=0.05)
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({"n": 2_000_000})
    assert err.value.code == "policy_timeout"


def test_builtin_error_is_denied(make_engine: EngineFactory) -> None:
    engine = make_engine(BUILTIN_ERROR)
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({"zero": 0})
    assert err.value.code == "policy_error"
    assert "gateway/decision.rego:3" in err.value.message
    assert engine.decide({"zero": 1}).allow  # the same policy answers when it can


def test_error_message_does_not_quote_input(make_engine: EngineFactory) -> None:
    engine = make_engine(LEAKY_ERROR)
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({"name": "张三"})
    assert err.value.code == "policy_error"
    assert "张三" not in err.value.message and "to_number" in err.value.message


def test_undefined_decision_is_denied(make_engine: EngineFactory) -> None:
    engine = make_engine(UNDEFINED)
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({})
    assert err.value.code == "policy_undefined"


def test_malformed_decision_is_denied(make_engine: EngineFactory) -> None:
    engine = make_engine(MALFORMED)
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({})
    assert err.value.code == "policy_malformed"


def test_policy_that_does_not_compile_is_refused(make_engine: EngineFactory) -> None:
    with pytest.raises(PolicyLoadError, match="decision.rego"):
        make_engine(_bundle("decision := x"))


def test_embedded_keeps_answering_after_a_timeout() -> None:
    with EmbeddedOpaEngine(SLOW, timeout_s=0.2, workers=2) as engine:
        with pytest.raises(PolicyUnavailable):
            engine.decide({"n": 4_000_000})
        assert engine.decide({"n": 1}).allow


def test_embedded_closed_engine_is_denied() -> None:
    engine = EmbeddedOpaEngine(UNDEFINED, workers=1)
    engine.close()
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({})
    assert err.value.code == "policy_error"


def test_embedded_trace_names_rules_that_fired() -> None:
    with EmbeddedOpaEngine(BUILTIN_ERROR, workers=1) as engine:
        decision, fired = engine.eval_trace({"zero": 1})
    assert decision.allow
    assert fired == ["gateway/decision.rego:3 decision"]


def test_opa_server_sends_strict_builtin_errors(fake_opa: FakeOpaServer) -> None:
    engine = OpaServerEngine(fake_opa.url, UNDEFINED)
    with pytest.raises(PolicyUnavailable):
        engine.decide({})
    assert (
        "POST",
        "/v1/data/gateway/decision?strict-builtin-errors=true",
    ) in fake_opa.fake.requests


def test_opa_server_slow_reply_is_a_timeout(fake_opa: FakeOpaServer) -> None:
    OpaServerEngine(fake_opa.url, UNDEFINED).close()
    engine = OpaServerEngine(fake_opa.url, UNDEFINED, timeout_s=0.1, push=False)
    fake_opa.fake.delay_s = 1.0
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({})
    assert err.value.code == "policy_timeout"


def test_opa_server_unreachable_is_denied(fake_opa: FakeOpaServer) -> None:
    url = fake_opa.url
    fake_opa.stop()
    engine = OpaServerEngine(url, UNDEFINED, push=False, timeout_s=0.5)
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide({})
    assert err.value.code == "policy_unreachable"


def test_unparsable_grant_term_is_an_engine_error(
    make_engine: EngineFactory, repo_bundle: PolicyBundle
) -> None:
    engine = make_engine(repo_bundle)
    doc = make_input("conditional", ["name"], grant(valid_to="next year"))
    with pytest.raises(PolicyUnavailable) as err:
        engine.decide(doc)
    assert err.value.code == "policy_error"
    assert "time.parse_rfc3339_ns" in err.value.message
