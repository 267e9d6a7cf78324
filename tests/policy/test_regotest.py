"""The Rego unit tests beside the policies run, and pass, under the real engine."""

from __future__ import annotations

from gateway.policy.bundle import PolicyBundle
from gateway.policy.regotest import RegoTestResult, run_rego_tests


def test_repo_policy_tests_all_pass(repo_bundle: PolicyBundle) -> None:
    results = run_rego_tests(repo_bundle)
    assert len(results) >= 10
    assert [r for r in results if not r.passed] == []


def test_failing_and_erroring_rego_tests_are_reported() -> None:
    bundle = PolicyBundle.build(
        {"app/app.rego": "package app\n\nlimit := data.config.limit\n"},
        data={"config": {"limit": 3}},
        tests={
            "app/app_test.rego": (
                "package app_test\n\n"
                "test_success_limit if data.app.limit == 3\n\n"
                "test_fail_wrong_limit if data.app.limit == 4\n\n"
                "test_fail_divides_by_zero if 1 / data.app.zero == 0 with data.app.zero as 0\n\n"
                "helper(x) := x\n"
            )
        },
    )
    assert run_rego_tests(bundle) == [
        RegoTestResult("test_success_limit", "app_test", True),
        RegoTestResult("test_fail_wrong_limit", "app_test", False, "not true"),
        RegoTestResult(
            "test_fail_divides_by_zero",
            "app_test",
            False,
            "app/app_test.rego:7: eval_builtin_error: div",
        ),
    ]
