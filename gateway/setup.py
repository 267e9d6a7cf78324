"""``pgw init``: data dir, master key, state schema; with ``--demo`` a working demo."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway import auth, grants, state
from gateway.catalog import Catalog, parse_catalog_file
from gateway.services import open_keyring
from gateway.settings import Settings
from keys.master import create_master_key_file

DEMO_ORGS = {
    # First 17 characters of fictitious demo USCCs; the check character is computed.
    "op-research": ("省人口研究院(演示)", "12360000MB1234567"),
    "op-hotline": ("市民热线数据服务公司(演示)", "91360100MA1234567"),
}


REVIEWER_ORG = ("市数据局审核处(演示)", "11360100MB7654321")

DEMO_AGREEMENT = """数据利用协议（演示）：{title}

申请方承诺：
1. 仅在批准的应用场景和用途内使用本数据，不用于其他目的；
2. 不向任何第三方提供原始数据，不尝试重新识别个人；
3. 落实申请时声明的安全保障措施；
4. 在批准的期限内使用，期限届满或授权终止后按期销毁数据及其副本；
5. 在成果中注明数据来源：{owner}（资源登记编号 {code}）；
6. 按要求报告数据使用情况和成果。
"""


def _demo_agreements(engine: sa.Engine, catalog: Catalog) -> None:
    """Publish a data-use agreement for every demo dataset that has none yet."""
    from gateway import agreements

    have = {a.dataset_id for a in agreements.list_agreements(engine)}
    for ds in catalog.all():
        if ds.id not in have:
            agreements.publish_agreement(
                engine, f"dua-{ds.id}", ds.id, f"{ds.title}数据利用协议",
                DEMO_AGREEMENT.format(title=ds.title, owner=ds.owner,
                                      code=ds.registration_code or "未登记"), by="setup")


def _valid_uscc(prefix17: str) -> str:
    from anonymizers.identifiers import uscc_check_char

    return prefix17 + uscc_check_char(prefix17)


def _demo_grants(now: dt.datetime) -> list[dict[str, Any]]:
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=365)
    return [
        {"id": "g-demo-research", "operator_id": "op-research", "dataset_id": "huji_renkou",
         "kind": "application", "fields": ["id", "name", "gender", "birth_date", "id_card",
                                           "phone", "address", "region_code"],
         "purposes": ["population_research"], "modes": ["rows"],
         "row_filter": [{"field": "region_code", "op": "prefix", "value": "36"}],
         "operators": {"id_card": {"operator": "pseudonymize", "params": {}},
                       "birth_date": {"operator": "generalize", "params": {"to": "year"}}},
         "quota": {"max_rows_per_request": 100000},
         "valid_from": start.isoformat(), "valid_to": end.isoformat()},
        {"id": "g-demo-hotline", "operator_id": "op-hotline", "dataset_id": "tousu_gongdan",
         "kind": "license", "fields": ["id", "ticket_no", "accepted_at", "channel", "category",
                                       "description", "status", "region_code"],
         "purposes": ["service_quality_analysis"], "modes": ["rows"],
         "quota": {"max_rows_per_request": 50000},
         "valid_from": start.isoformat(), "valid_to": end.isoformat()},
    ]


def _ensure_master_key(s: Settings, echo: Callable[[str], None]) -> None:
    if s.master_key is not None:
        return
    path = s.resolved_master_key_file()
    if path.exists():
        return
    create_master_key_file(path)
    echo("!" * 78)
    echo(f"WARNING: generated a master key in {path} (mode 0600).")
    echo("Fine for a demo. In production set GATEWAY_MASTER_KEY from your secret store;")
    echo("whoever reads this file can derive every pseudonym key.")
    echo("!" * 78)


def _seed_policy(s: Settings, engine: sa.Engine, echo: Callable[[str], None]) -> None:
    """Store ``policies/`` as the active version (author ``seed``) if none is active."""
    from gateway.policy.bundle import load_policy_dir
    from gateway.policy.versions import seed

    version = seed(engine, load_policy_dir(s.policy_dir))
    if version is not None:
        echo(f"policy version {version.id} ({version.hash[:12]}) seeded from {s.policy_dir} "
             "and active")


def init_data_dir(s: Settings, *, demo: bool, rows: int,
                  echo: Callable[[str], None]) -> Path | None:
    """Initialise (idempotently). Returns the demo-credentials path when ``demo``."""
    s.data_dir.mkdir(parents=True, exist_ok=True)
    _ensure_master_key(s, echo)
    engine = state.make_engine(s.resolved_state_url())
    try:
        state.create_schema(engine)
        ring = open_keyring(s, engine)
        echo(f"state database ready: {s.resolved_state_url()}")
        echo(f"key ring ready: {', '.join(k.id for k in ring.list() if k.status == 'primary')}")
        _seed_policy(s, engine, echo)
        if not demo:
            return None
        return _init_demo(s, engine, rows, echo)
    finally:
        engine.dispose()  # close pooled connections now, not at garbage collection


def _demo_console_accounts(engine: sa.Engine) -> dict[str, str]:
    """Console passwords for the demo staff (random; written to demo-credentials.json)."""
    from gateway.console.accounts import set_password

    passwords = {}
    for principal_id in ("admin", "admin2", "reviewer", "auditor"):
        passwords[principal_id] = secrets.token_urlsafe(12)
        set_password(engine, principal_id, passwords[principal_id])
    return passwords


def _init_demo(s: Settings, engine: sa.Engine, rows: int,
               echo: Callable[[str], None]) -> Path:
    from gateway.demo.load import load_demo

    upstream = s.data_dir / "demo-upstream.db"
    if not upstream.exists():
        echo(f"generating demo upstream ({rows} rows per table) in {upstream} ...")
        counts = load_demo(sa.create_engine(f"sqlite:///{upstream.resolve()}"), rows)
        echo("  " + ", ".join(f"{t}={n}" for t, n in counts.items()))
    catalog_path = s.data_dir / "catalog.yaml"
    if not catalog_path.exists():
        src = resources.files("gateway.demo").joinpath("catalog.yaml")
        with resources.as_file(src) as p:
            shutil.copyfile(p, catalog_path)
    Catalog(engine).load_file(parse_catalog_file(catalog_path, s.data_dir))
    _demo_agreements(engine, Catalog(engine))
    creds_path = s.data_dir / "demo-credentials.json"
    if creds_path.exists():
        echo("demo principals already exist; keeping their credentials")
        return creds_path
    creds: dict[str, Any] = {"base_url": f"http://{s.host}:{s.port}", "operators": {}}
    auth.create_principal(engine, "admin", "演示管理员", roles=["admin"])
    creds["admin"] = {"principal": "admin", "token": auth.create_api_key(engine, "admin",
                                                                         "admin")[1]}
    auth.create_principal(engine, "auditor", "演示审计员", roles=["auditor"])
    creds["auditor"] = {"principal": "auditor",
                        "token": auth.create_api_key(engine, "auditor", "auditor")[1]}
    # Reviews conditional-open applications; from the data authority, never an applicant org.
    auth.create_principal(engine, "reviewer", REVIEWER_ORG[0], roles=["reviewer"],
                          org_uscc=_valid_uscc(REVIEWER_ORG[1]))
    creds["reviewer"] = {"principal": "reviewer",
                         "token": auth.create_api_key(engine, "reviewer", "reviewer")[1]}
    # A second admin: policy versions need a maker and a different checker.
    auth.create_principal(engine, "admin2", "演示管理员（复核）", roles=["admin"])
    creds["console"] = _demo_console_accounts(engine)
    catalog = Catalog(engine)
    now = dt.datetime.now(dt.timezone.utc)
    demo_grants = _demo_grants(now)
    for op_id, (name, prefix) in DEMO_ORGS.items():
        auth.create_principal(engine, op_id, name, roles=["operator"],
                              org_uscc=_valid_uscc(prefix))
        token = auth.create_api_key(engine, op_id, "operator")[1]
        mine = [g for g in demo_grants if g["operator_id"] == op_id]
        for g in mine:
            spec = grants.GrantSpec.model_validate(g)
            grants.create_grant(engine, spec, catalog.get(spec.dataset_id))
        creds["operators"][op_id] = {"token": token, "grants": [
            {"id": g["id"], "dataset": g["dataset_id"], "purposes": g["purposes"]}
            for g in mine]}
    fd = os.open(creds_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, ensure_ascii=False, indent=2)
    return creds_path
