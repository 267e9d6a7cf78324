"""The production engine: an OPA server (one sidecar per replica) over its REST
API, through ``opa-python-client``.

The client builds URLs by plain string concatenation, so every policy id and
data path is checked here before it reaches the client: ``../data/x`` as a
policy id would otherwise become ``PUT /v1/data/x``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import RegoParseError

from gateway.errors import ConfigError, PolicyUnavailable
from gateway.policy.bundle import PolicyBundle, PolicyLoadError
from gateway.policy.decision import Decision, parse_decision

DECISION_PACKAGE = "gateway"
DECISION_RULE = "decision"
DEFAULT_POLICY_PREFIX = "pgw/"
DEFAULT_TIMEOUT_S = 2.0

_SAFE_ID = re.compile(r"[A-Za-z0-9_./-]+")
_SAFE_DATA_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BUILTIN_NAME = re.compile(r"[\w.]+")


def check_policy_id(policy_id: str) -> str:
    """``policy_id`` if it is safe in ``/v1/policies/{id}``: only ``[A-Za-z0-9_./-]``,
    relative, no empty, ``.`` or ``..`` segment; else :class:`PolicyLoadError`."""
    segments = policy_id.split("/")
    if not _SAFE_ID.fullmatch(policy_id) or any(s in ("", ".", "..") for s in segments):
        raise PolicyLoadError(f"unsafe policy id {policy_id!r}: use [A-Za-z0-9_./-] path segments")
    return policy_id


def check_data_key(key: str) -> str:
    """``key`` if it is safe as one segment of ``/v1/data/{key}``, else :class:`PolicyLoadError`."""
    if not _SAFE_DATA_KEY.fullmatch(key):
        raise PolicyLoadError(f"unsafe data key {key!r}: use [A-Za-z0-9_-]")
    return key


class OpaServerEngine:
    """``PolicyEngine`` deciding through the OPA server at ``url``
    (``http[s]://host[:port]``).

    With ``push=True`` (default) the constructor pushes the bundle's modules as
    ``{policy_prefix}{path}`` and each top-level data key, and deletes policies
    under the prefix that the bundle no longer has. Pass ``push=False`` where the
    server gets its policies another way (signed bundles). ``timeout_s`` bounds
    each HTTP call; decisions are not retried (deny fast)."""

    name = "opa-server"

    def __init__(
        self,
        url: str,
        bundle: PolicyBundle,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        token: str | None = None,
        retries: int = 0,
        policy_prefix: str = DEFAULT_POLICY_PREFIX,
        push: bool = True,
        client: OpaClient | None = None,
    ) -> None:
        self._bundle = bundle
        self._prefix = policy_prefix
        self._policy_ids = {
            check_policy_id(f"{policy_prefix}{path}"): source
            for path, source in sorted(bundle.modules.items())
        }
        self._data_keys = [check_data_key(key) for key in sorted(bundle.data)]
        host, port, ssl = _parse_url(url)
        self._client = client or OpaClient(
            host=host, port=port, ssl=ssl, token=token, timeout=timeout_s, retries=retries
        )
        if push:
            self.push()

    def version(self) -> str:
        """The content hash of the bundle this engine was given."""
        return self._bundle.hash

    def healthy(self) -> bool:
        """Whether the server answers ``GET /health`` with 200."""
        return bool(self._client.check_health())

    def push(self) -> None:
        """Upload modules (unchanged: no v0-to-v1 rewriting) and data; remove stale
        modules under the prefix. Raises :class:`PolicyLoadError` on any refusal."""
        try:
            for policy_id, source in self._policy_ids.items():
                self._client.update_policy_from_string(source, policy_id, rego_compat=False)
            for key in self._data_keys:
                value = self._bundle.data[key]
                if not isinstance(value, dict):
                    raise PolicyLoadError(f"data key {key!r} must hold an object to be pushed")
                self._client.update_or_create_data(value, key)
            for policy_id in self._client.get_policies_list():
                if policy_id.startswith(self._prefix) and policy_id not in self._policy_ids:
                    self._client.delete_policy(check_policy_id(policy_id))
        except PolicyLoadError:
            raise
        except RegoParseError as exc:
            where = [_located(err) for err in exc.errors if isinstance(err, dict)]
            raise PolicyLoadError(
                f"OPA server refused the policy bundle: {'; '.join(where) or exc}", reasons=where
            ) from exc
        except Exception as exc:  # requests errors, non-JSON replies, client type checks
            raise PolicyLoadError(f"OPA server refused the policy bundle: {exc}") from exc

    def decide(self, input: Mapping[str, Any]) -> Decision:
        """``POST /v1/data/gateway/decision?strict-builtin-errors=true``; raise
        ``PolicyUnavailable`` on timeout (``policy_timeout``), no connection
        (``policy_unreachable``), an error reply (``policy_error``) or a reply
        without ``result`` (``policy_undefined``)."""
        try:
            body = self._client.query_rule(
                dict(input),
                DECISION_PACKAGE,
                DECISION_RULE,
                query_params={"strict-builtin-errors": "true"},
            )
        except requests.ReadTimeout:
            raise PolicyUnavailable(
                "OPA server gave no answer in time", code="policy_timeout"
            ) from None
        except requests.ConnectionError:
            raise PolicyUnavailable(
                "OPA server is unreachable", code="policy_unreachable"
            ) from None
        except requests.Timeout:
            raise PolicyUnavailable(
                "OPA server gave no answer in time", code="policy_timeout"
            ) from None
        except requests.HTTPError as exc:
            raise PolicyUnavailable(
                f"OPA server error ({_error_detail(exc.response)})", code="policy_error"
            ) from None
        except (requests.RequestException, ValueError, TypeError) as exc:
            raise PolicyUnavailable(
                f"OPA server error ({type(exc).__name__})", code="policy_error"
            ) from None
        if not isinstance(body, dict) or "result" not in body:
            raise PolicyUnavailable(
                "OPA server has no data.gateway.decision for this input", code="policy_undefined"
            )
        return parse_decision(body["result"], engine=self.name, policy_version=self._bundle.hash)

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close_connection()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, ssl)`` of an OPA base URL; the client adds ``/v1`` itself."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"OPA URL must be http[s]://host[:port], got {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    ssl = parts.scheme == "https"
    return host, parts.port or (443 if ssl else 80), ssl


def _located(error: Mapping[str, Any]) -> str:
    """``file:row: code: message`` for one OPA compile error (policy text only)."""
    where = error.get("location") or {}
    prefix = f"{where.get('file')}:{where.get('row')}: " if where else ""
    return f"{prefix}{error.get('code', 'error')}: {error.get('message', '')}"


def _error_detail(response: requests.Response | None) -> str:
    """Status, and where/what from OPA's first error, leaving out its message
    text, which may quote input values (personal data)."""
    if response is None:
        return "no response"
    detail = f"HTTP {response.status_code}"
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return detail
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        where = first.get("location") or {}
        builtin = str(first.get("message", "")).split(":", 1)[0]
        parts = [
            f"{where.get('file')}:{where.get('row')}" if where else "",
            str(first.get("code", "")),
            builtin if _BUILTIN_NAME.fullmatch(builtin) else "",
        ]
        detail += ": " + ": ".join(p for p in parts if p)
    return detail
