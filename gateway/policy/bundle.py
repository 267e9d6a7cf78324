"""A policy version on disk: Rego modules, their tests and data, content-hashed.

Loading parses every module with OPA's own parser (``rego.parse_module``, run in
the embedded engine) and refuses bundles that call builtins reaching outside the
process or making decisions unrepeatable.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from opa_bindings import OpaEngine, OpaError

from gateway.errors import ConfigError

# Builtins that reach outside the process (network, environment, credentials).
OUTWARD_BUILTINS = frozenset(
    {"http.send", "net.lookup_ip_addr", "opa.runtime", "providers.aws.sign_req"}
)
# Builtins whose answer is not a function of input and data: a recorded input
# would be decided differently on replay. Policies read time from input.env.now.
NONDETERMINISTIC_BUILTINS = frozenset({"time.now_ns", "rand.intn", "uuid.rfc4122"})
FORBIDDEN_BUILTINS = OUTWARD_BUILTINS | NONDETERMINISTIC_BUILTINS

TEST_SUFFIX = "_test.rego"
DATA_FILE = "data.json"


class PolicyLoadError(ConfigError):
    """A policy set that must not be loaded: unreadable, unparsable, or unsafe."""

    code = "policy_load_error"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class PolicyBundle:
    """One policy version. Equal bundles have equal ``hash``; build with
    :func:`load_policy_dir` or :meth:`PolicyBundle.build`."""

    modules: Mapping[str, str] = field(compare=False, repr=False)
    data: Mapping[str, Any] = field(compare=False, repr=False)
    tests: Mapping[str, str] = field(compare=False, repr=False)
    hash: str

    @classmethod
    def build(
        cls,
        modules: Mapping[str, str],
        data: Mapping[str, Any] | None = None,
        tests: Mapping[str, str] | None = None,
    ) -> PolicyBundle:
        """Bundle in-memory sources (no safety check; see :func:`check_forbidden_builtins`)."""
        data_doc = dict(data or {})
        tests_doc = dict(tests or {})
        return cls(
            modules=_frozen(modules),
            data=_frozen(data_doc),
            tests=_frozen(tests_doc),
            hash=content_hash(modules, data_doc, tests_doc),
        )


def content_hash(
    modules: Mapping[str, str], data: Mapping[str, Any], tests: Mapping[str, str]
) -> str:
    """SHA-256 over every (path, source), sorted by path, and the canonical JSON of
    the data; each part is length-prefixed so no two bundles frame the same bytes."""
    digest = hashlib.sha256()

    def part(chunk: bytes) -> None:
        digest.update(len(chunk).to_bytes(8, "big"))
        digest.update(chunk)

    for kind, sources in (("module", modules), ("test", tests)):
        for path in sorted(sources):
            part(f"{kind}:{path}".encode())
            part(sources[path].encode())
    part(b"data")
    part(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    return digest.hexdigest()


def load_policy_dir(path: str | Path) -> PolicyBundle:
    """Read ``*.rego`` (``*_test.rego`` as tests) and ``data.json`` files under
    ``path``; a ``data.json`` in ``a/b/`` lands at ``data.a.b``, as in OPA bundles.
    Raises :class:`PolicyLoadError` if anything is unreadable, unparsable or
    calls a forbidden builtin."""
    root = Path(path)
    if not root.is_dir():
        raise PolicyLoadError(f"policy directory {root} does not exist")
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    data: dict[str, Any] = {}
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root).as_posix()
        if not file.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue  # directories, and hidden files such as .regal/ or .git/
        if file.name.endswith(".rego"):
            (tests if file.name.endswith(TEST_SUFFIX) else modules)[rel] = _read(file)
        elif file.name == DATA_FILE:
            try:
                doc = json.loads(_read(file))
            except json.JSONDecodeError as exc:
                raise PolicyLoadError(f"{rel}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
            _merge_at(data, list(file.parent.relative_to(root).parts), doc, rel)
    bundle = PolicyBundle.build(modules, data, tests)
    check_forbidden_builtins(bundle)
    return bundle


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"cannot read policy file {file}: {exc}") from exc


def _merge_at(data: dict[str, Any], keys: list[str], doc: Any, rel: str) -> None:
    for key in keys:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise PolicyLoadError(f"{rel}: data path {'.'.join(keys)} is not an object")
    if not isinstance(doc, dict):
        raise PolicyLoadError(f"{rel}: data document is not a JSON object")
    for key, value in doc.items():
        if key in data:
            raise PolicyLoadError(f"{rel}: data key {key!r} is defined twice")
        data[key] = value


# --- parsing with OPA's own parser ------------------------------------------------

_parser_lock = threading.Lock()
_parser: OpaEngine | None = None


def parse_module(path: str, source: str) -> dict[str, Any]:
    """The module's AST as OPA's JSON (``rego.parse_module``); raises
    :class:`PolicyLoadError` naming file:line on a parse error."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = OpaEngine()
        try:
            rows = _parser.eval_query(
                "ast := rego.parse_module(input.path, input.source)",
                {"path": path, "source": source},
            )
        except OpaError as exc:
            detail = exc.message.split("rego.parse_module: ", 1)[-1]
            raise PolicyLoadError(f"{path}: cannot parse: {detail}") from exc
    if not rows or not isinstance(rows[0].get("ast"), dict):
        raise PolicyLoadError(f"{path}: cannot parse")
    ast: dict[str, Any] = rows[0]["ast"]
    return ast


def ref_name(term: Any) -> str | None:
    """``http.send`` for a ref term made of a var and string parts, else None."""
    if not isinstance(term, dict) or term.get("type") != "ref":
        return None
    parts = term.get("value") or []
    if not parts or parts[0].get("type") != "var":
        return None
    names = [str(parts[0]["value"])]
    for part in parts[1:]:
        if part.get("type") != "string":
            return None
        names.append(str(part["value"]))
    return ".".join(names)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        name = ref_name(node)
        if name is not None:
            yield name
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def check_forbidden_builtins(bundle: PolicyBundle) -> None:
    """Raise :class:`PolicyLoadError` listing ``file:line: builtin`` for every use
    of a forbidden builtin in the bundle's modules and tests. Whether a builtin is
    used comes from the parsed AST (comments and strings never count); the line
    comes from the source, since ``rego.parse_module`` drops locations."""
    problems: list[str] = []
    for path, source in sorted({**bundle.modules, **bundle.tests}.items()):
        used = {name for name in _refs(parse_module(path, source)) if name in FORBIDDEN_BUILTINS}
        for name in sorted(used):
            lines = _lines_using(source, name) or [0]
            problems.extend(f"{path}:{line}: {name}" for line in lines)
    if problems:
        raise PolicyLoadError(
            "policy uses builtins that reach outside the gateway or are not repeatable: "
            + "; ".join(problems),
            reasons=problems,
        )


_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|`[^`]*`|#[^\n]*|[^"`#]+|.', re.DOTALL)


def _lines_using(source: str, name: str) -> list[int]:
    """1-based lines where ``name`` appears as code (not in a comment or string)."""
    pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?![\w])")
    lines: list[int] = []
    for match in _TOKEN.finditer(source):
        text = match.group(0)
        if text[0] in '"`#':
            continue
        for hit in pattern.finditer(text):
            line = source.count("\n", 0, match.start() + hit.start()) + 1
            if line not in lines:
                lines.append(line)
    return lines
