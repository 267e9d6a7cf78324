"""The shared decision table, run against every engine available."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.policy.bundle import PolicyBundle
from gateway.policy.decision import KNOWN_OPERATORS, PolicyEngine
from gateway.policy.embedded import EmbeddedOpaEngine

from .cases import CASES, Case


@pytest.mark.parametrize("engine_name", ["embedded-opa", "opa-server"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_engine_gives_expected_decision(
    case: Case, engine_name: str, repo_engines: dict[str, PolicyEngine]
) -> None:
    engine = repo_engines[engine_name]
    decision = engine.decide(case.input)
    assert dict(decision.raw) == case.expected
    assert decision.engine == engine_name
    assert decision.policy_version == engine.version()


@pytest.mark.parametrize("case", [c for c in CASES if c.expected["allow"]], ids=lambda c: c.id)
def test_allowed_decisions_respect_gateway_invariants(
    case: Case, repo_engines: dict[str, PolicyEngine]
) -> None:
    decision = repo_engines["embedded-opa"].decide(case.input)
    fields = case.input["dataset"]["fields"]
    assert set(decision.fields) == set(case.input["request"].get("fields", []))
    for name, rule in decision.fields.items():
        assert rule.operator in KNOWN_OPERATORS
        personal = fields[name]["pii"] is not None or fields[name]["free_text"]
        if rule.operator == "keep" and personal:
            assert rule.params.get("explicit") is True, name


def test_engines_agree_on_every_case(repo_engines: dict[str, PolicyEngine]) -> None:
    embedded, remote = repo_engines["embedded-opa"], repo_engines["opa-server"]
    for case in CASES:
        ours, theirs = embedded.decide(case.input), remote.decide(case.input)
        assert (ours.allow, ours.reasons, ours.fields, ours.row_filter, ours.max_rows) == (
            theirs.allow,
            theirs.reasons,
            theirs.fields,
            theirs.row_filter,
            theirs.max_rows,
        ), case.id
        assert ours.policy_version == theirs.policy_version


def test_embedded_decides_correctly_from_many_threads(repo_bundle: PolicyBundle) -> None:
    def check(offset: int) -> list[str]:
        wrong = []
        for i in range(60):
            case = CASES[(offset + i) % len(CASES)]
            if dict(engine.decide(case.input).raw) != case.expected:
                wrong.append(case.id)
        return wrong

    with EmbeddedOpaEngine(repo_bundle, workers=3) as engine, ThreadPoolExecutor(6) as pool:
        assert [w for ws in pool.map(check, range(6)) for w in ws] == []
