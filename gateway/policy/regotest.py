"""Run a bundle's Rego unit tests (``test_*`` rules in ``*_test.rego``) with the
embedded OPA, as ``opa test`` would: a test passes when its rule is true."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opa_bindings import OpaError

from gateway.policy.bundle import PolicyBundle, parse_module, ref_name
from gateway.policy.embedded import error_detail, load_engine


@dataclass(frozen=True)
class RegoTestResult:
    name: str
    package: str
    passed: bool
    error: str | None = None

    @property
    def id(self) -> str:
        return f"data.{self.package}.{self.name}"


def discover_tests(bundle: PolicyBundle) -> list[tuple[str, str]]:
    """``(package, rule)`` for every ``test_*`` rule (not function) in the bundle's
    test modules, in file order, each once."""
    found: list[tuple[str, str]] = []
    for path, source in sorted(bundle.tests.items()):
        ast = parse_module(path, source)
        package = _package_name(ast)
        for rule in ast.get("rules", []):
            head: dict[str, Any] = rule.get("head", {})
            name = head.get("name") or ref_name({"type": "ref", "value": head.get("ref", [])})
            is_test = isinstance(name, str) and name.startswith("test_") and not head.get("args")
            if is_test and isinstance(name, str) and (package, name) not in found:
                found.append((package, name))
    return found


def run_rego_tests(bundle: PolicyBundle) -> list[RegoTestResult]:
    """Evaluate every discovered test against the bundle's modules, tests and data.
    A test fails when its rule is undefined or not ``true``, or when evaluating
    it raises (builtin errors are always errors in the embedded engine)."""
    tests = discover_tests(bundle)
    if not tests:
        return []
    engine = load_engine(bundle, include_tests=True)
    results: list[RegoTestResult] = []
    try:
        for package, name in tests:
            ref = "data" + "".join(f"[{json.dumps(p)}]" for p in [*package.split("."), name])
            try:
                rows = engine.eval_query(f"result := {ref}")
            except OpaError as exc:
                results.append(RegoTestResult(name, package, False, error_detail(exc)))
                continue
            passed = bool(rows) and rows[0].get("result") is True
            results.append(RegoTestResult(name, package, passed, None if passed else "not true"))
    finally:
        engine.close()
    return results


def _package_name(ast: dict[str, Any]) -> str:
    parts = ast.get("package", {}).get("path", [])
    return ".".join(str(p["value"]) for p in parts[1:])  # parts[0] is the var "data"
