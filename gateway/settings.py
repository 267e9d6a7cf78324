"""Gateway settings: every one an environment variable with the ``GATEWAY_`` prefix.

Built on first use (``get_settings``) and overridable in tests; nothing is read at
import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_POLICIES = Path(__file__).resolve().parent.parent / "policies"


class Settings(BaseSettings):
    """All configuration. The README's configuration table documents each field."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="State, demo upstream and key files.")
    state_url: str | None = Field(
        None, description="SQLAlchemy URL of the state database; default SQLite in data_dir."
    )
    catalog: Path | None = Field(
        None, description="Catalog YAML/JSON loaded at start-up (datasets and upstreams)."
    )
    policy_dir: Path = Field(_REPO_POLICIES, description="Directory of Rego policies + data.json.")
    policy_bundle: Path | None = Field(
        None, description="Signed OPA bundle (.tar.gz) to load instead of policy_dir; "
        "verified (signature and every file hash) before loading, else no decisions.")
    policy_bundle_keys: Path | None = Field(
        None, description="Published keys (JSON of GET /v1/keys) that may sign the policy "
        "bundle; default: this gateway's key ring.")
    policy_engine: Literal["embedded", "opa"] = "embedded"
    opa_url: str = "http://127.0.0.1:8181"
    policy_timeout_s: float = Field(2.0, gt=0)
    policy_workers: int = Field(4, ge=1, description="Embedded engines (one per worker thread).")
    master_key: SecretStr | None = Field(
        None, description="Base64 32-byte master key; else master_key_file."
    )
    master_key_file: Path | None = Field(None, description="Default: data_dir/master.key")
    batch_size: int = Field(5000, ge=100, le=100_000)
    page_limit_default: int = Field(100, ge=1)
    page_limit_max: int = Field(1000, ge=1)
    audit_origin: str = Field("public-data-gateway/audit",
                              description="Origin line of signed audit checkpoints.")
    audit_checkpoint_every: int = Field(1000, ge=1, description="Sign after N entries.")
    audit_checkpoint_seconds: float = Field(10.0, gt=0, description="…or after T seconds.")
    audit_retention_days: int = Field(1096, ge=183, description="Never prune younger entries.")
    detector: Literal["lac", "jieba", "none"] = Field(
        "lac", description="PERSON/LOCATION tagger for free text; 'none' = identifiers only.")
    safety_net: bool = Field(True, description="Scan undeclared string columns for direct "
                             "identifiers and mask hits.")
    redis_url: str | None = Field(None, description="Redis for quota counters and nonces; "
                                  "default: the state database.")
    signed_skew_s: int = Field(300, ge=5, le=3600, description="Clock skew window of signed "
                               "requests.")
    console_idle_s: int = Field(900, ge=60, le=86_400, description="Console sessions end "
                                "after this many seconds without a request.")
    console_session_s: int = Field(28_800, ge=300, le=604_800, description="…and this long "
                                   "after sign-in, whatever the activity.")
    console_cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure flag of the session cookie; auto: when the request "
        "came over HTTPS (run uvicorn with --proxy-headers behind a TLS proxy).")
    host: str = "127.0.0.1"
    port: int = 8000

    def resolved_state_url(self) -> str:
        return self.state_url or f"sqlite:///{self.data_dir.resolve() / 'state.db'}"

    def resolved_catalog(self) -> Path | None:
        if self.catalog is not None:
            return self.catalog
        default = self.data_dir / "catalog.yaml"
        return default if default.exists() else None

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first call."""
    return Settings()
