"""The objects built once at start-up and shared by every request (FastAPI lifespan)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from anonymizers.analyzer import Detector, build_analyzer
from anonymizers.errors import AnonymizerError
from anonymizers.safety import SafetyNet
from gateway import state
from gateway.audit import Recorder
from gateway.auditlog import AuditLog
from gateway.catalog import Catalog, parse_catalog_file
from gateway.errors import GatewayError, PolicyUnavailable, Unavailable
from gateway.nonces import NonceStore, build_nonce_store
from gateway.policy.decision import Decision, PolicyEngine
from gateway.quotas import QuotaCounter, build_quota_counter
from gateway.settings import Settings
from gateway.stores import StoreRegistry
from keys.keyring import KeyRing
from keys.master import KeyError_, load_master_key
from keys.store import SqlKeyStore, create_tables

if TYPE_CHECKING:
    from gateway.policy.bundle import PolicyBundle

log = logging.getLogger("gateway")
KEYRING_REFRESH_S = 30.0


class UnloadedEngine:
    """Stands in when the policy could not load: every decision is refused (fail closed)."""

    name = "unloaded"

    def __init__(self, why: str):
        self.why = why

    def decide(self, input: object) -> Decision:
        raise PolicyUnavailable(f"policy engine not loaded: {self.why}", code="policy_not_loaded")

    def version(self) -> str:
        return ""


def _safety_net(settings: Settings, detector: Detector | None) -> SafetyNet | None:
    """The net needs only the identifier recognizers, so it keeps working (fail closed)
    when the configured name tagger could not load."""
    if not settings.safety_net:
        return None
    return SafetyNet(detector if detector is not None else build_analyzer(None))


def open_keyring(settings: Settings, engine: sa.Engine) -> KeyRing:
    """The versioned key ring in the state database, unlocked by the master key (creates
    version 1 of each purpose on first use)."""
    secret = settings.master_key.get_secret_value() if settings.master_key else None
    master = load_master_key(secret, settings.resolved_master_key_file())
    create_tables(engine)
    return KeyRing.open(SqlKeyStore(engine), master)


def load_configured_policy(settings: Settings, keyring: KeyRing | None = None) -> PolicyBundle:
    """The signed bundle ``settings.policy_bundle`` once verified (with the keys of
    ``settings.policy_bundle_keys``, else ``keyring``'s bundle-signing keys), or the
    policy directory; raises ``PolicyLoadError`` naming why the bundle was refused."""
    from gateway.policy.bundle import PolicyLoadError, load_policy_dir
    from gateway.policy.opabundle import load_keys_file, load_signed_bundle

    if settings.policy_bundle is None:
        return load_policy_dir(settings.policy_dir)
    if settings.policy_bundle_keys is not None:
        keys = load_keys_file(settings.policy_bundle_keys)
        return load_signed_bundle(settings.policy_bundle, keys)
    if keyring is None:
        raise PolicyLoadError("signed policy bundle refused: no key ring to verify it with "
                              "(set GATEWAY_POLICY_BUNDLE_KEYS to the published keys)")
    return load_signed_bundle(settings.policy_bundle, keyring.verify_es256)


def build_policy_engine(settings: Settings, keyring: KeyRing | None = None) -> PolicyEngine:
    """The configured engine loaded with the verified signed bundle or the policy
    directory (:func:`load_configured_policy`); raises on any load error."""
    bundle = load_configured_policy(settings, keyring)
    if settings.policy_engine == "opa":
        from gateway.policy.opa_server import OpaServerEngine

        return OpaServerEngine(settings.opa_url, bundle, timeout_s=settings.policy_timeout_s)
    from gateway.policy.embedded import EmbeddedOpaEngine

    return EmbeddedOpaEngine(bundle, workers=settings.policy_workers,
                             timeout_s=settings.policy_timeout_s)


@dataclass
class Services:
    settings: Settings
    state_engine: sa.Engine
    catalog: Catalog
    keyring: KeyRing | None
    policy: PolicyEngine
    stores: StoreRegistry
    recorder: Recorder
    quotas: QuotaCounter
    nonces: NonceStore
    detector: Detector | None = None
    safety_net: SafetyNet | None = None
    problems: dict[str, str] = field(default_factory=dict)
    _keyring_checked: float = field(default_factory=time.monotonic)

    @classmethod
    def build(cls, settings: Settings, *, policy: PolicyEngine | None = None) -> "Services":
        """Build everything; a part that cannot load is recorded in ``problems`` (shown by
        /readyz) and replaced by something that refuses requests, never by a permissive
        default."""
        problems: dict[str, str] = {}
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = state.make_engine(settings.resolved_state_url())
        state.create_schema(engine)
        catalog = Catalog(engine)
        cat_path = settings.resolved_catalog()
        if cat_path is not None:
            try:
                catalog.load_file(parse_catalog_file(cat_path, settings.data_dir))
            except GatewayError as exc:
                problems["catalog"] = exc.message
        keyring: KeyRing | None = None
        try:
            keyring = open_keyring(settings, engine)
        except KeyError_ as exc:
            problems["keys"] = str(exc)
        if policy is None:
            try:
                from gateway.policy.active import versioned_engine

                policy = versioned_engine(settings, engine) or \
                    build_policy_engine(settings, keyring)
            except Exception as exc:  # any load failure → refuse every decision
                problems["policy"] = f"{type(exc).__name__}: {exc}"
                policy = UnloadedEngine(problems["policy"])
        for name, why in problems.items():
            log.error("start-up problem in %s: %s", name, why)
        detector: Detector | None = None
        try:
            detector = build_analyzer(None if settings.detector == "none" else settings.detector)
        except AnonymizerError as exc:  # free text will be redacted whole (fail closed)
            problems["detector"] = f"{type(exc).__name__}: {exc}"
        recorder = AuditLog(engine, signer=keyring, origin=settings.audit_origin,
                            checkpoint_every=settings.audit_checkpoint_every,
                            checkpoint_seconds=settings.audit_checkpoint_seconds)
        return cls(settings=settings, state_engine=engine, catalog=catalog, keyring=keyring,
                   policy=policy, stores=StoreRegistry(catalog.upstream_urls()),
                   recorder=recorder,
                   quotas=build_quota_counter(settings.redis_url, engine),
                   nonces=build_nonce_store(settings.redis_url, engine), problems=problems,
                   detector=detector,
                   safety_net=_safety_net(settings, detector))

    def keyring_or_fail(self) -> KeyRing:
        """The key ring, refreshed at most every ``KEYRING_REFRESH_S`` so that a rotation or
        retirement by another replica takes effect here too."""
        if self.keyring is None:
            raise Unavailable(f"key ring not loaded: {self.problems.get('keys', 'unknown')}",
                              code="keys_unavailable")
        now = time.monotonic()
        if now - self._keyring_checked > KEYRING_REFRESH_S:
            self._keyring_checked = now
            try:
                self.keyring.refresh()
            except KeyError_ as exc:
                raise Unavailable(f"key ring refresh failed: {exc}",
                                  code="keys_unavailable") from None
        return self.keyring

    def close(self) -> None:
        close_log = getattr(self.recorder, "close", None)
        if callable(close_log):
            try:
                close_log()  # signs a final checkpoint
            except Exception as exc:  # shutting down: report, never hide
                log.error("audit log close failed: %s", exc)
        self.stores.close()
        close = getattr(self.policy, "close", None)
        if callable(close):
            close()
        self.state_engine.dispose()
