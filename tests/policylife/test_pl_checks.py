"""Checks before a version can be proposed: every finding at once, with file:line:col."""

from __future__ import annotations

import pytest

from gateway.policy.bundle import PolicyBundle
from gateway.policy.checks import COVERAGE_FLOOR, CheckReport, run_checks

from .conftest import changed

DECISION = "gateway/decision.rego"
REQUEST = "gateway/request/request.rego"


def _only(report: CheckReport, check: str) -> list[tuple[str, int, int, str]]:
    return [(f.file, f.line, f.col, f.message) for f in report.findings if f.check == check]


def test_seed_policy_passes_with_coverage_reported(seed_bundle: PolicyBundle) -> None:
    report = run_checks(seed_bundle)
    assert report.ok, [str(f) for f in report.findings]
    assert report.hash == seed_bundle.hash
    assert report.tests and all(t["passed"] for t in report.tests)
    cov = report.coverage
    assert cov["floor"] == COVERAGE_FLOOR and cov["coverage"] >= COVERAGE_FLOOR
    assert set(cov["files"]) == set(seed_bundle.modules)
    assert cov["files"][DECISION]["covered_lines"] > 0
    doc = report.to_json()
    assert set(doc) == {"hash", "ok", "findings", "tests", "coverage"}
    for finding in doc["findings"]:
        assert set(finding) == {"check", "severity", "file", "line", "col", "message"}


def test_syntax_error_names_file_line_and_column(seed_bundle: PolicyBundle) -> None:
    source = seed_bundle.modules[REQUEST] + "\nbroken if {\n\tinput.x == [1,\n}\n"
    other = seed_bundle.modules[DECISION].replace("package gateway\n", "package gateway\n}\n", 1)
    report = run_checks(changed(seed_bundle, modules={REQUEST: source, DECISION: other}))
    assert not report.ok
    found = {(f, line, col) for f, line, col, _ in _only(report, "compile")}
    last = source.count("\n")  # the closing brace
    assert (REQUEST, last, 1) in found
    line = seed_bundle.modules[DECISION].split("\n").index("package gateway") + 2
    assert (DECISION, line, 1) in found  # both files' errors, at once


def test_compile_error_points_at_the_undefined_function(seed_bundle: PolicyBundle) -> None:
    source = seed_bundle.modules[REQUEST] + "\nodd := x if {\n\tx := nosuchfn(1)\n}\n"
    report = run_checks(changed(seed_bundle, modules={REQUEST: source}))
    [(file, line, col, message)] = _only(report, "compile")
    assert (file, line, col) == (REQUEST, source.count("\n") - 1, 7)
    assert "nosuchfn" in message


def test_forbidden_builtin(seed_bundle: PolicyBundle) -> None:
    source = seed_bundle.modules[REQUEST] + \
        '\nleak := r if {\n\tr := http.send({"method": "get", "url": "http://x"})\n}\n'
    report = run_checks(changed(seed_bundle, modules={REQUEST: source}))
    assert (REQUEST, source.count("\n") - 1, 7) in \
        {(f, line, col) for f, line, col, _ in _only(report, "forbidden_builtin")}
    assert not report.ok


def test_renamed_decision_breaks_the_contract(seed_bundle: PolicyBundle) -> None:
    source = seed_bundle.modules[DECISION].replace("decision :=", "verdict :=")
    report = run_checks(changed(seed_bundle, modules={DECISION: source}))
    contract = _only(report, "contract")
    assert contract and all(f == DECISION for f, *_ in contract)
    assert any("undefined" in m for *_, m in contract)
    assert not report.ok


def test_wrong_shape_breaks_the_contract(seed_bundle: PolicyBundle) -> None:
    source = seed_bundle.modules[DECISION].replace('"max_rows": _max_rows,',
                                                   '"max_rows": "many",')
    report = run_checks(changed(seed_bundle, modules={DECISION: source}))
    assert any("max_rows" in m for *_, m in _only(report, "contract"))


def test_failing_rego_test_is_a_finding(seed_bundle: PolicyBundle) -> None:
    path = "gateway/decision_test.rego"
    source = seed_bundle.tests[path] + "\ntest_fail_on_purpose if {\n\tfalse\n}\n"
    report = run_checks(changed(seed_bundle, tests={path: source}))
    [(file, line, col, message)] = _only(report, "test")
    assert (file, line, col) == (path, source.count("\n") - 2, 1)
    assert "test_fail_on_purpose" in message
    failed = [t for t in report.tests if not t["passed"]]
    assert [t["id"] for t in failed] == ["data.gateway_test.test_fail_on_purpose"]


def test_coverage_below_the_floor(seed_bundle: PolicyBundle) -> None:
    report = run_checks(changed(seed_bundle, tests={"gateway/decision_test.rego": None}))
    assert report.coverage["coverage"] < COVERAGE_FLOOR
    assert _only(report, "coverage")
    assert not report.ok


@pytest.mark.parametrize("extra,rule", [
    ("package gateway.extra\n\ndefault allow := true\n\nallow if input.x\n", "default-allow"),
    ('package gateway.extra\n\ndefault d := {"allow": true}\n', "default-allow"),
    ("package gateway.extra\n\n_helper := 1\n", "unused-rule"),
    ("package gateway.extra\n\n_helper := 1\n", "test-package"),
])
def test_lint_rules(seed_bundle: PolicyBundle, extra: str, rule: str) -> None:
    report = run_checks(changed(seed_bundle, modules={"gateway/extra/extra.rego": extra}))
    found = [f for f in report.findings if f.check == rule]
    assert found and found[0].file == "gateway/extra/extra.rego" and found[0].line == 3 \
        if rule != "test-package" else found[0].line == 1
    assert not report.ok


def test_package_tested_only_through_others_is_a_warning(seed_bundle: PolicyBundle) -> None:
    warnings = [f for f in run_checks(seed_bundle).findings if f.check == "test-package"]
    assert warnings and {f.severity for f in warnings} == {"warning"}
