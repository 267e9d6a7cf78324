"""A few lint rules in the spirit of Regal's, on OPA's own AST (``rego.parse_module``).

- ``default-allow`` (error): a ``default`` rule whose value is ``true``, or an object
  with ``"allow": true`` - the safe value must be the default.
- ``unused-rule`` (error): a rule of a policy module that no policy module references
  and that is not an entrypoint (``decision`` in ``gateway``, or ``entrypoint: true`` in
  its METADATA). Rules used only by tests are dead in production.
- ``test-package`` (warning; error when no test evaluates the package at all): every
  policy package should have its own ``<package>_test`` package.

``rego.parse_module`` drops locations, so lines come from the source text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.policy.bundle import PolicyBundle, parse_module
from gateway.policy.checks import ERROR, WARNING, Finding

ENTRYPOINTS = frozenset({("gateway", "decision")})
_ENTRY_META = re.compile(r"(?m)^#\s*entrypoint:\s*true\s*\n(?:#.*\n|\s*\n)*"
                         r"(?:default\s+)?([A-Za-z_]\w*)")


def _package(ast: Mapping[str, Any]) -> str:
    parts = ast.get("package", {}).get("path", [])
    return ".".join(str(p["value"]) for p in parts[1:])


def _rule_name(rule: Mapping[str, Any]) -> str | None:
    head = rule.get("head", {})
    name = head.get("name")
    if isinstance(name, str) and name:
        return name
    ref = head.get("ref") or []
    return str(ref[0]["value"]) if ref and ref[0].get("type") == "var" else None


def _names(node: Any) -> Iterator[str]:
    """Every var name and every string part of a ref under ``node``."""
    if isinstance(node, dict):
        if node.get("type") == "var":
            yield str(node.get("value"))
        elif node.get("type") == "ref":
            for part in node.get("value") or []:
                if part.get("type") == "string":
                    yield str(part.get("value"))
        for value in node.values():
            yield from _names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _names(item)


def _used_names(rule: Mapping[str, Any]) -> set[str]:
    head = {k: v for k, v in rule.get("head", {}).items() if k not in ("name", "ref")}
    return set(_names({**rule, "head": head}))


def _line_of(source: str, name: str, *, default: bool = False) -> tuple[int, int]:
    prefix = r"default\s+" if default else r"(?:default\s+)?"
    match = re.search(rf"(?m)^{prefix}({re.escape(name)})\b", source)
    if match is None:
        return 1, 1
    return source.count("\n", 0, match.start()) + 1, 1


def _is_allowing(term: Any) -> bool:
    if not isinstance(term, dict):
        return False
    if term.get("type") == "boolean":
        return term.get("value") is True
    if term.get("type") == "object":
        for key, value in term.get("value") or []:
            if key.get("value") == "allow" and value == {"type": "boolean", "value": True}:
                return True
    return False


def lint(bundle: PolicyBundle, coverage: Mapping[str, Any] | None = None) -> list[Finding]:
    """Lint findings for the bundle's policy modules (tests are not linted)."""
    asts = {path: parse_module(path, src) for path, src in sorted(bundle.modules.items())}
    test_packages = {_package(parse_module(p, s)) for p, s in sorted(bundle.tests.items())}
    findings: list[Finding] = []
    used: set[str] = set()
    for ast in asts.values():
        for rule in ast.get("rules", []):
            used |= _used_names(rule)
    packages: dict[str, str] = {}
    for path, ast in asts.items():
        source, package = bundle.modules[path], _package(ast)
        packages.setdefault(package, path)
        entry = {m.group(1) for m in _ENTRY_META.finditer(source)}
        reported: set[str] = set()
        for rule in ast.get("rules", []):
            name = _rule_name(rule)
            if name is None:
                continue
            if rule.get("default") and _is_allowing(rule.get("head", {}).get("value")):
                line, col = _line_of(source, name, default=True)
                findings.append(Finding("default-allow", ERROR, path, line, col,
                                        f"default {name} allows: the default must be the "
                                        "safe (denying) value"))
            is_entry = (package, name) in ENTRYPOINTS or name in entry
            if not is_entry and name not in used and name not in reported:
                reported.add(name)
                line, col = _line_of(source, name)
                findings.append(Finding("unused-rule", ERROR, path, line, col,
                                        f"rule {package}.{name} is never referenced"))
    files = (coverage or {}).get("files", {})
    for package, path in sorted(packages.items()):
        if f"{package}_test" in test_packages:
            continue
        untested = files.get(path, {}).get("covered_lines", 0) == 0
        line, _ = _line_of(bundle.modules[path], "package")
        findings.append(Finding(
            "test-package", ERROR if untested else WARNING, path, line, 1,
            f"package {package} has no {package}_test package"
            + (" and no test evaluates it" if untested else " (tested only through others)")))
    return findings
