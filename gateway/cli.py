"""``pgw``: initialise, serve, manage principals, keys, grants and policies."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gateway.errors import GatewayError
from gateway.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Public-data privacy gateway.")
apikey_app = typer.Typer(no_args_is_help=True, help="API keys.")
principal_app = typer.Typer(no_args_is_help=True, help="Operators and staff principals.")
grant_app = typer.Typer(no_args_is_help=True, help="Grants (approved applications, licenses).")
policy_app = typer.Typer(no_args_is_help=True, help="Rego policies.")
catalog_app = typer.Typer(no_args_is_help=True, help="The data catalog.")
keys_app = typer.Typer(no_args_is_help=True, help="The key ring: list, rotate, retire.")
receipt_app = typer.Typer(no_args_is_help=True, help="Release receipts.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
prove_app = typer.Typer(no_args_is_help=True, help="Inclusion and consistency proofs.")
audit_app.add_typer(prove_app, name="prove")
app.add_typer(apikey_app, name="apikey")
app.add_typer(principal_app, name="principal")
app.add_typer(grant_app, name="grant")
app.add_typer(policy_app, name="policy")
app.add_typer(catalog_app, name="catalog")
app.add_typer(keys_app, name="keys")
app.add_typer(receipt_app, name="receipt")
app.add_typer(audit_app, name="audit")

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Overrides GATEWAY_DATA_DIR.")]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


def _fail(exc: GatewayError) -> None:
    typer.secho(f"error [{exc.code}]: {exc.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _state(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from gateway import state

    s = _settings(data_dir)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = state.make_engine(s.resolved_state_url())
    state.create_schema(engine)
    return s, engine


@app.command()
def init(demo: Annotated[bool, typer.Option(help="Also build the demo upstream, catalog, "
                                            "principals, keys and grants.")] = False,
         data_dir: DataDir = None,
         rows: Annotated[int, typer.Option(help="Demo rows per table.")] = 2000) -> None:
    """Create the data dir, master key and state database (idempotent)."""
    from gateway.setup import init_data_dir

    s = _settings(data_dir)
    try:
        out = init_data_dir(s, demo=demo, rows=rows, echo=lambda m: typer.echo(m, err=True))
    except GatewayError as exc:
        _fail(exc)
    if out is not None:
        typer.echo(f"demo credentials written to {out}")
        typer.echo(f"web console: http://{s.host}:{s.port}/console/ (users admin, admin2, "
                   "reviewer, auditor; passwords under \"console\" in that file)")


@app.command()
def migrate(data_dir: DataDir = None,
            new: Annotated[Optional[str], typer.Option(
                "--new", help="Developers: autogenerate a revision with this message.")] = None
            ) -> None:
    """Bring the state database to this release's schema (Alembic)."""
    from gateway import migrate as mig
    from gateway import state

    s = _settings(data_dir)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = state.make_engine(s.resolved_state_url())
    try:
        if new:
            mig.revision(engine, new)
            return
        before = mig.current(engine)
        mig.upgrade(engine)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(f"state database at revision {mig.current(engine)} (was {before})")


@app.command()
def serve(host: Annotated[Optional[str], typer.Option()] = None,
          port: Annotated[Optional[int], typer.Option()] = None,
          data_dir: DataDir = None,
          workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1) -> None:
    """Serve the gateway (uvicorn)."""
    import os

    import uvicorn

    s = _settings(data_dir)
    if data_dir:
        os.environ["GATEWAY_DATA_DIR"] = str(data_dir)
    uvicorn.run("gateway.api.main:app", host=host or s.host, port=port or s.port,
                workers=workers, log_level="info")


@principal_app.command("create")
def principal_create(principal_id: str, name: Annotated[str, typer.Option()],
                     role: Annotated[list[str], typer.Option(help="operator|admin|reviewer|"
                                                             "auditor; repeatable")],
                     org_uscc: Annotated[Optional[str], typer.Option()] = None,
                     data_dir: DataDir = None) -> None:
    """Register an operator org or a staff principal."""
    from gateway import auth

    _, engine = _state(data_dir)
    try:
        auth.create_principal(engine, principal_id, name, roles=role, org_uscc=org_uscc)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(principal_id)


@apikey_app.command("create")
def apikey_create(principal: Annotated[str, typer.Option()],
                  role: Annotated[str, typer.Option(help="operator|admin|reviewer|auditor")],
                  data_dir: DataDir = None) -> None:
    """Issue an API key; the token is printed once and stored only as a hash."""
    from gateway import auth

    _, engine = _state(data_dir)
    try:
        key_id, token = auth.create_api_key(engine, principal, role)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(json.dumps({"key_id": key_id, "token": token}))


@apikey_app.command("create-signing")
def signing_key_create(principal: Annotated[str, typer.Option()],
                       data_dir: DataDir = None) -> None:
    """Issue an HMAC request-signing secret (docs/signed-requests.md); printed once."""
    from gateway.request_auth import create_signing_key

    ring = _ring(data_dir)
    _, engine = _state(data_dir)
    try:
        key_id, secret = create_signing_key(engine, ring, principal)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(json.dumps({"key_id": key_id, "secret": secret}))


@apikey_app.command("revoke-signing")
def signing_key_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke an HMAC request-signing secret."""
    from gateway.request_auth import revoke_signing_key

    _, engine = _state(data_dir)
    try:
        revoke_signing_key(engine, key_id)
    except GatewayError as exc:
        _fail(exc)


@apikey_app.command("revoke")
def apikey_revoke(key_id: str, data_dir: DataDir = None) -> None:
    from gateway import auth

    _, engine = _state(data_dir)
    try:
        auth.revoke_api_key(engine, key_id)
    except GatewayError as exc:
        _fail(exc)


console_user_app = typer.Typer(no_args_is_help=True, help="Console accounts of staff "
                               "principals (admin, reviewer, auditor).")
app.add_typer(console_user_app, name="console-user")


def _console_user_run(data_dir: Path | None, event: str, principal_id: str,
                      action: Callable[[Any], None]) -> None:
    """Run ``action(engine)`` and write its ``console`` audit entry, refusals included. The
    CLI acts with the database's own rights, as no principal: the entry says ``via: cli``."""
    def run(engine: Any, recorder: Any, rid: str) -> None:
        entry = {"event": event, "principal": {"operator_id": None}, "via": "cli",
                 "target": principal_id}
        try:
            action(engine)
        except GatewayError as exc:
            recorder.record("console", rid, {**entry, "outcome": exc.code})
            raise
        recorder.record("console", rid, {**entry, "outcome": "ok"})

    _policy_run(data_dir, run)


@console_user_app.command("set-password")
def console_user_set_password(principal_id: str, data_dir: DataDir = None) -> None:
    """Set or reset a staff principal's console password (ends its sessions, clears its
    lockout). The password is read from a hidden prompt, or from the first line of stdin
    when stdin is not a terminal; never from the command line."""
    from gateway.console import accounts

    if sys.stdin.isatty():
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    _console_user_run(data_dir, "console_password_set", principal_id,
                      lambda engine: accounts.set_password(engine, principal_id, password))
    typer.echo(f"console password set for {principal_id}")


@console_user_app.command("unlock")
def console_user_unlock(principal_id: str, data_dir: DataDir = None) -> None:
    """Clear a console account's lockout after failed sign-ins."""
    from gateway.console import accounts

    _console_user_run(data_dir, "console_unlock", principal_id,
                      lambda engine: accounts.unlock(engine, principal_id))
    typer.echo(f"{principal_id} unlocked")


@console_user_app.command("list")
def console_user_list(data_dir: DataDir = None) -> None:
    """Every staff principal and its console account, one JSON line each (no hashes)."""
    import datetime as dt

    from gateway.console import accounts

    _, engine = _state(data_dir)
    for row in accounts.list_accounts(engine):
        typer.echo(json.dumps({k: v.isoformat() if isinstance(v, dt.datetime) else v
                               for k, v in row.items()}, ensure_ascii=False))


@grant_app.command("create")
def grant_create(file: Annotated[Path, typer.Argument(help="Grant as JSON ('-' for stdin)")],
                 data_dir: DataDir = None) -> None:
    """Create a grant from a JSON document (see docs/grants.md)."""
    from pydantic import ValidationError

    from gateway import grants
    from gateway.catalog import Catalog

    s, engine = _state(data_dir)
    raw = sys.stdin.read() if str(file) == "-" else file.read_text()
    try:
        spec = grants.GrantSpec.model_validate_json(raw)
        grant_id = grants.create_grant(engine, spec, Catalog(engine).get(spec.dataset_id))
    except ValidationError as exc:
        typer.secho(f"error [invalid_grant]: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(grant_id)


@grant_app.command("status")
def grant_status(grant_id: str, status: str, data_dir: DataDir = None) -> None:
    """Set a grant's status: active, suspended, revoked or expired."""
    from gateway import grants

    if status not in ("active", "suspended", "revoked", "expired"):
        typer.secho("status must be active, suspended, revoked or expired", err=True)
        raise typer.Exit(2)
    _, engine = _state(data_dir)
    try:
        grants.set_status(engine, grant_id, status)  # type: ignore[arg-type]
    except GatewayError as exc:
        _fail(exc)


@grant_app.command("list")
def grant_list(data_dir: DataDir = None) -> None:
    from gateway import grants

    _, engine = _state(data_dir)
    for g in grants.list_grants(engine):
        typer.echo(json.dumps(g, ensure_ascii=False))


@catalog_app.command("load")
def catalog_load(file: Path, data_dir: DataDir = None) -> None:
    """Register the upstreams and datasets of a catalog YAML/JSON file."""
    from gateway.catalog import Catalog, parse_catalog_file

    s, engine = _state(data_dir)
    try:
        ids = Catalog(engine).load_file(parse_catalog_file(file, s.data_dir))
    except GatewayError as exc:
        _fail(exc)
    typer.echo(f"registered {len(ids)} datasets: {', '.join(ids)}")


@policy_app.command("test")
def policy_test(policy_dir: Annotated[Optional[Path], typer.Option()] = None) -> None:
    """Run the Rego unit tests (*_test.rego) in the real embedded OPA engine."""
    from gateway.policy.bundle import load_policy_dir
    from gateway.policy.regotest import run_rego_tests

    s = Settings()
    try:
        bundle = load_policy_dir(policy_dir or s.policy_dir)
    except GatewayError as exc:
        _fail(exc)
    results = run_rego_tests(bundle)
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        typer.echo(f"{mark} {r.package}.{r.name}" + (f"  ({r.error})" if r.error else ""))
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        raise typer.Exit(1)


def _ring(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from gateway.services import open_keyring
    from keys.master import KeyError_

    s, engine = _state(data_dir)
    try:
        return open_keyring(s, engine)
    except KeyError_ as exc:
        typer.secho(f"error [keys_unavailable]: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """Every key's id, purpose, version, status and algorithm (never the secret)."""
    for k in _ring(data_dir).list():
        typer.echo(f"{k.id:24} {k.purpose:15} v{k.version:<3} {k.status:8} {k.alg}")


@keys_app.command("rotate")
def keys_rotate(purpose: Annotated[str, typer.Option(help="signing, bundle-signing, "
                                                     "pseudonym, token, wrapping, cursor, mac")],
                data_dir: DataDir = None) -> None:
    """Add a new version of PURPOSE and make it primary; older versions still verify."""
    from keys.errors import KeyRingError

    try:
        typer.echo(_ring(data_dir).rotate(purpose))
    except (KeyRingError, ValueError) as exc:
        typer.secho(f"error [key_rotate_failed]: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)


@keys_app.command("retire")
def keys_retire(key_id: str, data_dir: DataDir = None) -> None:
    """Retire a non-primary key: it makes nothing new (public keys still verify)."""
    from keys.errors import KeyRingError

    try:
        info = _ring(data_dir).retire(key_id)
    except KeyRingError as exc:
        typer.secho(f"error [key_retire_failed]: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(f"{info.id} {info.status}")


@keys_app.command("public")
def keys_public(data_dir: DataDir = None) -> None:
    """The public verification keys (JWK + PEM) as JSON."""
    typer.echo(json.dumps(_ring(data_dir).public_keys(), indent=2))


@receipt_app.command("verify")
def receipt_verify(
    receipt: Annotated[Optional[Path], typer.Argument(
        help="A receipt, or a whole JSON page response (rows + receipt).")] = None,
    payload: Annotated[Optional[Path], typer.Option(help="Payload bytes to check the "
                                                    "receipt's SHA-256 against.")] = None,
    stream: Annotated[Optional[Path], typer.Option(help="An NDJSON or CSV export with its "
                                                   "receipt trailer.")] = None,
    keys: Annotated[Optional[Path], typer.Option(help="Published keys (GET /v1/keys); "
                                                 "default: the local key ring.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Verify a receipt's signature and payload hash, offline."""
    import orjson

    from gateway.receipts import ReceiptInvalid, public_key_verifier, split_stream, verify_receipt

    try:
        body: bytes | None = None
        if stream is not None:
            raw = stream.read_bytes()
            fmt = "csv" if b"\n#pgw-receipt " in raw or raw.startswith(b"#pgw-receipt ") \
                else "ndjson"
            body, doc = split_stream(raw, fmt)
        elif receipt is not None:
            doc = json.loads(receipt.read_text(encoding="utf-8"))
            if "receipt" in doc and "rows" in doc:
                body, doc = orjson.dumps(doc["rows"]), doc["receipt"]
        else:
            typer.secho("give a RECEIPT file or --stream FILE", err=True)
            raise typer.Exit(2)
        if payload is not None:
            body = payload.read_bytes()
        if keys is not None:
            published = json.loads(keys.read_text())
            verifier = public_key_verifier(published.get("keys", published))
        else:
            verifier = _ring(data_dir).verify
        verify_receipt(doc, verifier, body)
    except (ReceiptInvalid, ValueError, KeyError) as exc:
        typer.echo(f"INVALID: {exc}")
        raise typer.Exit(1)
    what = "signature and payload" if body is not None else "signature (no payload given)"
    typer.echo(f"OK {doc['receipt_id']}: {what} verified; {doc['row_count']} rows of "
               f"{doc['dataset']} under grant {doc['grant_id']}, key {doc['key_id']}")


@audit_app.command("verify")
def audit_verify(keys: Annotated[Optional[Path], typer.Option(
                     help="Published keys (GET /v1/keys) instead of the local ring.")] = None,
                 data_dir: DataDir = None) -> None:
    """Recompute the Merkle tree and check every signed checkpoint; exit 1 naming the
    first entry that does not match."""
    from gateway.auditlog import verify_log
    from gateway.receipts import public_key_verifier

    s, engine = _state(data_dir)
    if keys is not None:
        published = json.loads(keys.read_text())
        verifier = public_key_verifier(published.get("keys", published))
    else:
        verifier = _ring(data_dir).verify
    res = verify_log(engine, verifier, origin=s.audit_origin)
    typer.echo(res.summary())
    if not res.ok:
        raise typer.Exit(1)


@prove_app.command("inclusion")
def audit_prove_inclusion(seq: int, size: Annotated[Optional[int], typer.Option(
                              help="Tree size (default: latest)")] = None,
                          data_dir: DataDir = None) -> None:
    """Inclusion proof of entry SEQ in the tree of SIZE entries, as JSON."""
    from gateway.auditlog import inclusion_proof

    _, engine = _state(data_dir)
    try:
        typer.echo(json.dumps(inclusion_proof(engine, seq, size).to_json(), indent=2))
    except GatewayError as exc:
        _fail(exc)


@prove_app.command("consistency")
def audit_prove_consistency(old: int, new: Annotated[Optional[int], typer.Argument()] = None,
                            data_dir: DataDir = None) -> None:
    """Consistency proof that the tree of OLD entries is a prefix of the tree of NEW."""
    from gateway.auditlog import consistency_proof

    _, engine = _state(data_dir)
    try:
        typer.echo(json.dumps(consistency_proof(engine, old, new).to_json(), indent=2))
    except GatewayError as exc:
        _fail(exc)


@audit_app.command("prune")
def audit_prune(archive: Annotated[Path, typer.Option(help="Directory for the archive")],
                data_dir: DataDir = None) -> None:
    """Archive, then delete, entries older than the retention (GATEWAY_AUDIT_RETENTION_DAYS),
    up to a signed checkpoint; the rest of the log still verifies."""
    import datetime as dt

    from gateway.auditlog import prune

    s, engine = _state(data_dir)
    res = prune(engine, archive, retention=dt.timedelta(days=s.audit_retention_days),
                verify=_ring(data_dir).verify)
    if res is None:
        typer.echo("nothing older than the retention period ends at a signed checkpoint")
    else:
        typer.echo(f"archived entries {res.start}..{res.end - 1} to {res.archive}")
        _prune_sketches(engine, res.end)


def _prune_sketches(engine: Any, first_kept: int) -> None:
    """Release sketches live as long as the entries that seal them (an hour's margin: a
    sketch is stored just before its release entry)."""
    import datetime as dt

    import sqlalchemy as sa

    from gateway.auditlog import audit_log
    from gateway.trace.store import prune_sketches

    with engine.connect() as conn:
        kept = conn.execute(sa.select(audit_log.c.time)
                            .where(audit_log.c.seq == first_kept)).scalar()
    if kept is not None:
        gone = prune_sketches(engine, kept - dt.timedelta(hours=1))
        typer.echo(f"deleted {gone} release sketches of archived releases")


@app.command("trace")
def trace(file: Annotated[Path, typer.Argument(help="The leaked file: CSV, NDJSON, XLSX or "
                                               "a JSON page.")],
          as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
          limit: Annotated[int, typer.Option(help="Matches to list.", min=1)] = 10,
          data_dir: DataDir = None) -> None:
    """Name the grants and releases FILE most likely came from, most likely first, with the
    evidence and the chance of a false match (docs/leak-tracing.md). Exit 0: a release
    matched; 1: nothing matched; 2: the file cannot be read."""
    from gateway.catalog import Catalog
    from gateway.stores import StoreRegistry
    from gateway.trace.trace import TraceLimits, TraceSources, trace_file

    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.secho(f"error [unreadable_file]: cannot read {file}: {exc.strerror}",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    _, engine = _state(data_dir)
    catalog = Catalog(engine)
    src = TraceSources(engine, _ring(data_dir), catalog, StoreRegistry(catalog.upstream_urls()))
    try:
        report = trace_file(src, data, file.name, TraceLimits(matches=limit))
    except GatewayError as exc:
        _fail(exc)
    finally:
        src.stores.close()
    typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if as_json
               else report.render_text())
    if not report.matched:
        raise typer.Exit(1)


@app.command("demo-data")
def demo_data(url: Annotated[str, typer.Option(help="SQLAlchemy URL of the target database")],
              rows: Annotated[int, typer.Option()] = 2000,
              seed: Annotated[int, typer.Option()] = 7) -> None:
    """Generate the demo tables (checksum-valid identifiers) into any database."""
    import sqlalchemy as sa

    from gateway.demo.load import load_demo

    counts = load_demo(sa.create_engine(url), rows, seed=seed)
    for table, n in counts.items():
        typer.echo(f"{table}: {n} rows")


report_app = typer.Typer(no_args_is_help=True, help="Reports: the annual public disclosure.")
license_app = typer.Typer(no_args_is_help=True, help="Authorized-operation licenses.")
application_app = typer.Typer(no_args_is_help=True, help="Conditional-open applications.")
app.add_typer(report_app, name="report")
app.add_typer(license_app, name="license")
app.add_typer(application_app, name="application")


@report_app.command("disclosure")
def report_disclosure(
    year: Annotated[int, typer.Option(help="Calendar year (China Standard Time).")],
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[Optional[Path], typer.Option(help="Write here instead of stdout.")]
    = None,
    data_dir: DataDir = None,
) -> None:
    """The annual public disclosure: every license in force during YEAR, per grant: org and
    USCC, products, dataset, modes, fee mode, unit, quantity, revenue, term."""
    from gateway.metering import disclosure, render_disclosure

    if format not in ("csv", "json"):
        typer.secho("--format must be csv or json", err=True)
        raise typer.Exit(2)
    _, engine = _state(data_dir)
    text = render_disclosure(disclosure(engine, year), format)  # type: ignore[arg-type]
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"disclosure for {year} written to {output}", err=True)


@license_app.command("list")
def license_list(data_dir: DataDir = None) -> None:
    """Every license as one JSON line."""
    from gateway.licenses import list_licenses

    _, engine = _state(data_dir)
    for lic in list_licenses(engine):
        typer.echo(json.dumps(lic, ensure_ascii=False))


@license_app.command("status")
def license_status(license_id: str,
                   action: Annotated[str, typer.Argument(help="suspend|resume|revoke|expire")],
                   actor: Annotated[str, typer.Option(help="Admin principal acting")],
                   note: Annotated[str, typer.Option()] = "",
                   data_dir: DataDir = None) -> None:
    """Suspend, resume, revoke or expire a license and all its grants."""
    from gateway.auth import Principal
    from gateway.licenses import change_status

    if action not in ("suspend", "resume", "revoke", "expire"):
        typer.secho("action must be suspend, resume, revoke or expire", err=True)
        raise typer.Exit(2)
    import sqlalchemy as sa

    from gateway import state as st

    _, engine = _state(data_dir)
    with engine.connect() as conn:
        row = conn.execute(sa.select(st.principals).where(st.principals.c.id == actor)).first()
    if row is None or "admin" not in row.roles:
        typer.secho(f"error [role_required]: {actor!r} is not an admin principal", err=True)
        raise typer.Exit(2)
    who = Principal(id=actor, name=row.name, org_uscc=row.org_uscc, roles=("admin",),
                    key_id="cli")
    try:
        typer.echo(change_status(engine, who, license_id, action, note))  # type: ignore[arg-type]
    except GatewayError as exc:
        _fail(exc)


@application_app.command("list")
def application_list(state: Annotated[Optional[str], typer.Option(
                         help="submitted|approved|rejected|returned|withdrawn")] = None,
                     data_dir: DataDir = None) -> None:
    """Applications as JSON lines (oldest first)."""
    from gateway.applications import list_applications

    _, engine = _state(data_dir)
    for a in list_applications(engine, state=state):  # type: ignore[arg-type]
        typer.echo(json.dumps(a, ensure_ascii=False))


@policy_app.command("bundle")
def policy_bundle(
    version: Annotated[str, typer.Argument(help="A policy directory, or 'active' (the "
                                           "configured policy directory or signed bundle).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the .tar.gz")],
    include_tests: Annotated[bool, typer.Option(help="Also ship the *_test.rego files.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Write VERSION as a signed OPA bundle (ES256, the key ring's bundle-signing key)."""
    from gateway.policy.bundle import load_policy_dir
    from gateway.policy.opabundle import build_bundle

    ring = _ring(data_dir)
    try:
        if Path(version).is_dir():
            bundle = load_policy_dir(Path(version))
        else:
            bundle = _version_bundle(version, data_dir)
        out.write_bytes(build_bundle(bundle, ring, include_tests=include_tests))
    except GatewayError as exc:
        _fail(exc)
    typer.echo(f"wrote {out}: revision {bundle.hash}")


def _version_bundle(version: str, data_dir: Path | None):  # type: ignore[no-untyped-def]
    """A stored policy version (id or 'active'); without versions, the configured policy."""
    from gateway.policy import versions as pv

    s, engine = _state(data_dir)
    if version == "active" and pv.active_pointer(engine) is None:
        from gateway.services import load_configured_policy

        return load_configured_policy(s, _ring(data_dir))
    return pv.get_bundle(engine, pv.resolve(engine, version))


@policy_app.command("replay")
def policy_replay(
    version: Annotated[str, typer.Argument(help="Candidate: a version id, 'active', or a "
                                           "policy directory.")],
    last: Annotated[Optional[int], typer.Option(help="The last N recorded decisions")] = None,
    since: Annotated[Optional[str], typer.Option(help="Decisions at or after this ISO "
                                                 "time")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary")] = False,
    data_dir: DataDir = None,
) -> None:
    """Re-decide recorded decisions under a candidate policy and show what would change."""
    import datetime as dt

    from gateway.policy.bundle import load_policy_dir
    from gateway.policy.replay import render_summary, replay

    _, engine = _state(data_dir)
    try:
        bundle = load_policy_dir(Path(version)) if Path(version).is_dir() \
            else _version_bundle(version, data_dir)
        summary = replay(engine, bundle, last=last,
                         since=dt.datetime.fromisoformat(since) if since else None)
    except GatewayError as exc:
        _fail(exc)
    typer.echo(json.dumps(summary.to_json(), ensure_ascii=False, indent=2) if as_json
               else render_summary(summary))


@policy_app.command("verify-bundle")
def policy_verify_bundle(
    file: Path,
    keys: Annotated[Optional[Path], typer.Option(
        help="Published keys (GET /v1/keys) instead of the local key ring.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Check a signed OPA bundle's signature, every file hash and its manifest; exit 1
    naming the first problem."""
    from gateway.policy.bundle import PolicyLoadError
    from gateway.policy.opabundle import load_keys_file, load_signed_bundle

    try:
        verifier = load_keys_file(keys) if keys is not None else _ring(data_dir).verify_es256
        bundle = load_signed_bundle(file, verifier)
    except PolicyLoadError as exc:
        typer.echo(f"INVALID: {exc.message}")
        raise typer.Exit(1)
    typer.echo(f"OK {file}: revision {bundle.hash}, {len(bundle.modules)} modules, "
               f"{len(bundle.tests)} test modules")


# --- policy versions (gateway.policy.versions; docs/policy-lifecycle.md) -----------------

Actor = Annotated[str, typer.Option("--actor", help="Admin principal id doing this.")]


def _policy_run(data_dir: Path | None, action):  # type: ignore[no-untyped-def]
    """Run ``action(engine, recorder, request_id)`` with the state database and the audit
    log; a gateway error exits 2 with its code."""
    import secrets

    from gateway.auditlog import AuditLog
    from gateway.services import open_keyring

    s, engine = _state(data_dir)
    try:
        ring = open_keyring(s, engine)
    except Exception:  # noqa: BLE001 - the log still appends; checkpoints wait for a key
        ring = None
    recorder = AuditLog(engine, signer=ring, origin=s.audit_origin)
    try:
        return action(engine, recorder, "cli-" + secrets.token_hex(8))
    except GatewayError as exc:
        if exc.reasons:
            typer.echo("\n".join(exc.reasons), err=True)
        _fail(exc)
    finally:
        recorder.close()
        engine.dispose()


def _echo_json(doc: object) -> None:
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@policy_app.command("list")
def policy_list(data_dir: DataDir = None) -> None:
    """Every policy version, newest first (* marks the active one)."""
    from gateway.policy import versions as pv

    def run(engine, recorder, rid):  # type: ignore[no-untyped-def]
        active = pv.active_pointer(engine)
        for v in pv.list_versions(engine):
            mark = "*" if active and active[0] == v.id else " "
            typer.echo(f"{mark} {v.id:>4} {v.state:<10} {v.hash[:12]} {v.author:<12} "
                       f"{v.created_at:%Y-%m-%d %H:%M} {v.message}")

    _policy_run(data_dir, run)


@policy_app.command("show")
def policy_show(version: str, data_dir: DataDir = None) -> None:
    """A version's metadata and lifecycle events (VERSION: id or 'active')."""
    from gateway.policy import versions as pv

    def run(engine, recorder, rid):  # type: ignore[no-untyped-def]
        vid = pv.resolve(engine, version)
        _echo_json({**pv.get_version(engine, vid).to_json(), "events": pv.events(engine, vid)})

    _policy_run(data_dir, run)


@policy_app.command("export")
def policy_export(version: str, out: Path, data_dir: DataDir = None) -> None:
    """Write a version as plain files (modules, tests, data.json) into a new directory."""
    from gateway.api.policies import bundle_files
    from gateway.policy import versions as pv

    if out.exists() and any(out.iterdir()):
        typer.secho(f"error: {out} is not empty", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)

    def run(engine, recorder, rid):  # type: ignore[no-untyped-def]
        vid = pv.resolve(engine, version)
        bundle = pv.get_bundle(engine, vid)
        for rel, text in bundle_files(bundle).items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(text, encoding="utf-8")
        typer.echo(f"version {vid} ({bundle.hash}) exported to {out}")

    _policy_run(data_dir, run)


@policy_app.command("import")
def policy_import(directory: Path, author: Actor, message: Annotated[str, typer.Option()],
                  parent: Annotated[Optional[str], typer.Option(
                      help="Parent version (default: the active one).")] = None,
                  data_dir: DataDir = None) -> None:
    """Store a directory of policies as a new draft version."""
    from gateway.policy import versions as pv
    from gateway.policy.bundle import load_policy_dir

    def run(engine, recorder, rid):  # type: ignore[no-untyped-def]
        bundle = load_policy_dir(directory)
        pointer = pv.active_pointer(engine)
        parent_id = pv.resolve(engine, parent) if parent else (pointer[0] if pointer else None)
        v = pv.create_version(engine, bundle, author=author, message=message,
                              parent_id=parent_id)
        typer.echo(f"draft version {v.id} ({v.hash}) created")

    _policy_run(data_dir, run)


@policy_app.command("check")
def policy_check(version: str, data_dir: DataDir = None) -> None:
    """Run every check on a version; JSON report; exit 1 when an error is found."""
    from gateway.policy import versions as pv

    def run(engine, recorder, rid):  # type: ignore[no-untyped-def]
        report = pv.check(engine, pv.resolve(engine, version))
        _echo_json(report.to_json())
        return report.ok

    if not _policy_run(data_dir, run):
        raise typer.Exit(1)


def _transition(data_dir: Path | None, call) -> None:  # type: ignore[no-untyped-def]
    result = _policy_run(data_dir, call)
    for v in result if isinstance(result, tuple) else (result,):
        typer.echo(f"version {v.id} ({v.hash[:12]}) is {v.state}")


@policy_app.command("propose")
def policy_propose(version: str, actor: Actor, data_dir: DataDir = None) -> None:
    """draft -> proposed, if every check passes."""
    from gateway.policy import versions as pv

    _transition(data_dir, lambda e, r, rid: pv.propose(e, r, rid, pv.resolve(e, version),
                                                       actor)[0])


@policy_app.command("approve")
def policy_approve(version: str, actor: Actor, note: str = "",
                   data_dir: DataDir = None) -> None:
    """proposed -> approved, by an admin other than its author."""
    from gateway.policy import versions as pv

    _transition(data_dir, lambda e, r, rid: pv.review_audited(
        e, r, rid, pv.resolve(e, version), actor, approve=True, note=note))


@policy_app.command("reject")
def policy_reject(version: str, actor: Actor, note: str = "",
                  data_dir: DataDir = None) -> None:
    """proposed -> rejected, by an admin other than its author."""
    from gateway.policy import versions as pv

    _transition(data_dir, lambda e, r, rid: pv.review_audited(
        e, r, rid, pv.resolve(e, version), actor, approve=False, note=note))


@policy_app.command("activate")
def policy_activate(version: str, actor: Actor, data_dir: DataDir = None) -> None:
    """approved -> active: every gateway process switches on its next decision."""
    from gateway.policy import versions as pv

    _transition(data_dir, lambda e, r, rid: pv.activate_audited(e, r, rid,
                                                                pv.resolve(e, version), actor))


@policy_app.command("rollback")
def policy_rollback(actor: Actor, data_dir: DataDir = None) -> None:
    """Reactivate the version that was active before the current one."""
    from gateway.policy import versions as pv

    _transition(data_dir, lambda e, r, rid: pv.rollback_audited(e, r, rid, actor))


def _register_scan() -> None:
    from anonymizers.scan import scan_command

    app.command("scan", help="Detect (or with --anonymize, desensitize) personal data in "
                "JSONL records {id, text}; streams, constant memory.")(scan_command)


_register_scan()

if __name__ == "__main__":
    app()

