"""Every check a policy version must pass before it can be proposed, run all at once.

``compile`` (Rego v1 in the real engine), ``forbidden_builtin``, ``contract`` (the
decision document of DESIGN.md for each sample input), ``test`` (every ``*_test.rego``
passes), ``coverage`` (of the non-test modules by the tests, floor ``COVERAGE_FLOOR``)
and the lint rules of gateway.policy.lint. Each finding names file:line:col.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from opa_bindings import OpaEngine, OpaError

from gateway.errors import GatewayError
from gateway.policy.bundle import PolicyBundle, PolicyLoadError, check_forbidden_builtins
from gateway.policy.decision import FILTER_OPS, KNOWN_OPERATORS, parse_decision
from gateway.policy.embedded import DECISION_QUERY, error_detail, load_engine
from gateway.policy.regotest import discover_tests
from gateway.policy.samples import sample_inputs

# Share of the lines of non-test modules that the tests must evaluate (percent).
COVERAGE_FLOOR = 80.0
ERROR, WARNING, INFO = "error", "warning", "info"
CONTRACT_KEYS = ("allow", "reasons", "fields", "row_filter", "max_rows", "modes", "k_min")

_OPA_ERROR = re.compile(r"(?m)^(?:\d+ errors? occurred: )?(?:.*?: )?(\S+\.rego):(\d+): "
                        r"(rego_\w+): (.*)$")


@dataclass(frozen=True)
class Finding:
    """One problem; ``line``/``col`` are 1-based (0: the file as a whole)."""

    check: str
    severity: str
    file: str
    line: int
    col: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: [{self.check}] {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """All findings, the Rego test results and the coverage of the non-test modules."""

    hash: str
    findings: list[Finding]
    tests: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No finding of severity ``error``."""
        return not any(f.severity == ERROR for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "ok": self.ok,
                "findings": [f.to_json() for f in self.findings],
                "tests": self.tests, "coverage": self.coverage}


def run_checks(bundle: PolicyBundle) -> CheckReport:
    """Run every check on ``bundle``; later checks that need a compiled policy are
    skipped (not reported as passing) when it does not compile."""
    from gateway.policy.lint import lint

    sources = {**bundle.modules, **bundle.tests}
    findings = compile_findings(bundle)
    if findings:
        return CheckReport(bundle.hash, findings)
    findings += builtin_findings(bundle, sources)
    findings += contract_findings(bundle)
    test_results, test_findings, coverage = test_and_coverage(bundle)
    findings += test_findings
    findings += lint(bundle, coverage)
    return CheckReport(bundle.hash, findings, test_results, coverage)


def _col(sources: Mapping[str, str], file: str, line: int, hint: str | None = None) -> int:
    lines = sources.get(file, "").splitlines()
    if not 1 <= line <= len(lines):
        return 1
    text = lines[line - 1]
    if hint and hint in text:
        return text.index(hint) + 1
    return len(text) - len(text.lstrip()) + 1


def opa_findings(message: str, sources: Mapping[str, str], check: str) -> list[Finding]:
    """Findings from an OPA error message (``file:line: rego_x_error: what``, then the
    source line and a caret under the column for parse errors)."""
    found: list[Finding] = []
    lines = message.splitlines()
    for i, text in enumerate(lines):
        match = _OPA_ERROR.match(text)
        if match is None:
            continue
        file, line, kind, what = match.group(1), int(match.group(2)), match.group(3), \
            match.group(4)
        col = 0
        if i + 2 < len(lines) and lines[i + 2].strip() == "^":
            col = lines[i + 2].index("^")  # after OPA's one-tab indent: 0-based + 1
        if col == 0:
            hint = re.search(r"(?:function|var|ref) ([\w.]+)", what)
            col = _col(sources, file, line, hint.group(1) if hint else None)
        found.append(Finding(check, ERROR, file, line, col, f"{kind}: {what}"))
    if not found:
        found.append(Finding(check, ERROR, "", 0, 0, message.strip()))
    return found


def compile_findings(bundle: PolicyBundle) -> list[Finding]:
    """Parse every file on its own (so that each file's syntax error is reported), then
    compile the whole set, tests included, as the embedded engine does."""
    sources = {**bundle.modules, **bundle.tests}
    findings: list[Finding] = []
    for path, source in sorted(sources.items()):
        engine = OpaEngine()
        try:
            engine.add_policy(path, source)
        except OpaError as exc:
            findings += opa_findings(exc.message, sources, "compile")
        finally:
            engine.close()
    if findings:
        return findings
    try:
        load_engine(bundle, include_tests=True).close()
    except PolicyLoadError as exc:
        cause = exc.__cause__
        findings += opa_findings(cause.message if isinstance(cause, OpaError) else exc.message,
                                 sources, "compile")
    return findings


def builtin_findings(bundle: PolicyBundle, sources: Mapping[str, str]) -> list[Finding]:
    """One finding per use of a builtin that reaches outside the process."""
    try:
        check_forbidden_builtins(bundle)
    except PolicyLoadError as exc:
        out = []
        for reason in exc.reasons:  # "path:line: name"
            where, _, name = reason.rpartition(": ")
            file, _, line = where.rpartition(":")
            out.append(Finding("forbidden_builtin", ERROR, file, int(line),
                               _col(sources, file, int(line), name),
                               f"{name} reaches outside the gateway or is not repeatable"))
        return out
    return []


def _decision_location(bundle: PolicyBundle) -> tuple[str, int, int]:
    for path, source in sorted(bundle.modules.items()):
        if re.search(r"(?m)^package gateway\s*$", source):
            rule = re.search(r"(?m)^(?:default )?decision\b", source)
            at = rule or re.search(r"(?m)^package gateway", source)
            assert at is not None
            line = source.count("\n", 0, at.start()) + 1
            return path, line, 1
    return "data.gateway.decision", 0, 0


def contract_problems(doc: Any) -> list[str]:
    """What is wrong with a decision document's shape (empty: it keeps the contract)."""
    if not isinstance(doc, dict):
        return ["data.gateway.decision is undefined or not an object"]
    problems = [f"'{k}' is missing" for k in CONTRACT_KEYS if k not in doc]
    try:
        parse_decision(doc)
    except GatewayError as exc:
        problems.append(exc.message)
        return problems
    for name, rule in doc.get("fields", {}).items():
        if rule["operator"] not in KNOWN_OPERATORS:
            problems.append(f"field '{name}' has unknown operator '{rule['operator']}'")
    for flt in doc.get("row_filter", []):
        if not isinstance(flt.get("field"), str) or flt.get("op") not in FILTER_OPS:
            problems.append(f"row_filter entry {json.dumps(flt, ensure_ascii=False)} "
                            "needs a string 'field' and a known 'op'")
    return problems


def contract_findings(bundle: PolicyBundle) -> list[Finding]:
    """Evaluate ``data.gateway.decision`` on every sample input and check its shape."""
    file, line, col = _decision_location(bundle)
    findings: list[Finding] = []
    engine = load_engine(bundle)
    try:
        for name, doc in sample_inputs().items():
            try:
                rows = engine.eval_query(DECISION_QUERY, doc)
            except OpaError as exc:
                findings.append(Finding("contract", ERROR, file, line, col,
                                        f"sample {name}: evaluation failed ({error_detail(exc)})"))
                continue
            decision = rows[0].get("decision") if rows else None
            for problem in contract_problems(decision):
                findings.append(Finding("contract", ERROR, file, line, col,
                                        f"sample {name}: {problem}"))
    finally:
        engine.close()
    return findings


def test_and_coverage(
    bundle: PolicyBundle,
) -> tuple[list[dict[str, Any]], list[Finding], dict[str, Any]]:
    """Run every ``test_*`` rule with coverage on; a line of a non-test module counts as
    covered when an expression starting on it was evaluated by any test."""
    tests = discover_tests(bundle)
    sources = {**bundle.modules, **bundle.tests}
    covered: dict[str, set[int]] = {}
    seen: dict[str, set[int]] = {}
    results: list[dict[str, Any]] = []
    findings: list[Finding] = []
    engine = load_engine(bundle, include_tests=True)
    try:
        for package, name in tests:
            ref = "data" + "".join(f"[{json.dumps(p)}]" for p in [*package.split("."), name])
            error = None
            try:
                rows = engine.eval_query(f"result := {ref}", coverage=True)
                passed = bool(rows) and rows[0].get("result") is True
                error = None if passed else "not true"
            except OpaError as exc:
                passed, error = False, error_detail(exc)
            results.append({"id": f"data.{package}.{name}", "passed": passed, "error": error})
            for path, report in ((engine.last_coverage or {}).get("files") or {}).items():
                for kind, into in (("covered", covered), ("not_covered", seen)):
                    for span in report.get(kind) or []:
                        into.setdefault(path, set()).add(int(span["start"]["row"]))
            if not passed:
                file, line = _test_location(bundle, package, name)
                findings.append(Finding("test", ERROR, file, line, _col(sources, file, line),
                                        f"data.{package}.{name} failed: {error}"))
    finally:
        engine.close()
    coverage = _coverage(bundle, covered, seen)
    findings += _coverage_findings(bundle, coverage, bool(tests))
    return results, findings, coverage


def _test_location(bundle: PolicyBundle, package: str, name: str) -> tuple[str, int]:
    for path, source in sorted(bundle.tests.items()):
        if re.search(rf"(?m)^package {re.escape(package)}\s*$", source):
            rule = re.search(rf"(?m)^{re.escape(name)}\b", source)
            if rule:
                return path, source.count("\n", 0, rule.start()) + 1
    return "", 0


def _coverage(bundle: PolicyBundle, covered: dict[str, set[int]],
              seen: dict[str, set[int]]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    total_c = total_n = 0
    for path in sorted(bundle.modules):
        c = covered.get(path, set())
        n = seen.get(path, set()) - c
        total_c, total_n = total_c + len(c), total_n + len(n)
        files[path] = {"covered_lines": len(c), "not_covered_lines": len(n),
                       "coverage": round(100.0 * len(c) / max(1, len(c) + len(n)), 1),
                       "not_covered": sorted(n)}
    percent = round(100.0 * total_c / max(1, total_c + total_n), 1)
    return {"files": files, "covered_lines": total_c, "not_covered_lines": total_n,
            "coverage": percent, "floor": COVERAGE_FLOOR}


def _coverage_findings(bundle: PolicyBundle, coverage: dict[str, Any],
                       has_tests: bool) -> list[Finding]:
    if not has_tests:
        return [Finding("test", ERROR, "", 0, 0, "the version has no test_* rules")]
    out: list[Finding] = []
    if coverage["coverage"] < COVERAGE_FLOOR:
        out.append(Finding("coverage", ERROR, "", 0, 0,
                           f"tests cover {coverage['coverage']}% of the lines of the policy "
                           f"modules; the floor is {COVERAGE_FLOOR:g}%"))
    for path, report in coverage["files"].items():
        if report["covered_lines"] == 0 and report["not_covered_lines"] > 0:
            out.append(Finding("coverage", WARNING, path, 1, 1,
                               "no line of this module is evaluated by any test"))
    return out
