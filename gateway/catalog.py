"""The data catalog: upstream connections and datasets with per-field classification."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway import state
from gateway.clock import now as _now
from gateway.errors import ConfigError, NotFound, Unprocessable
from gateway.policy.decision import KNOWN_OPERATORS

PII_TYPES = frozenset(
    {"PERSON", "LOCATION", "ID_CARD", "PHONE_NUMBER", "USCC", "BANK_CARD", "EMAIL_ADDRESS",
     "LICENSE_PLATE", "PASSPORT", "IP_ADDRESS", "DATE_OF_BIRTH"}
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
FieldType = Literal["string", "integer", "number", "date", "datetime"]


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    type: FieldType = "string"
    pii: str | None = None
    level: int = Field(1, ge=1, le=4)
    quasi_identifier: bool = False
    operator: str | None = None
    free_text: bool = False

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.fullmatch(v):
            raise ValueError("field name must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return v

    @field_validator("pii")
    @classmethod
    def _pii(cls, v: str | None) -> str | None:
        if v is not None and v not in PII_TYPES:
            raise ValueError(f"unknown PII type {v!r}; one of {sorted(PII_TYPES)}")
        return v

    @field_validator("operator")
    @classmethod
    def _operator(cls, v: str | None) -> str | None:
        if v is not None and v not in KNOWN_OPERATORS:
            raise ValueError(f"unknown operator {v!r}; one of {sorted(KNOWN_OPERATORS)}")
        return v

    @property
    def is_personal(self) -> bool:
        return self.pii is not None or self.free_text


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str = ""
    description: str = ""
    upstream: str
    table: str
    key: str
    open_class: Literal["unconditional", "conditional", "not_open"]
    owner: str
    registration_code: str | None = None
    fields: tuple[FieldSpec, ...]

    @field_validator("id", "table", "upstream")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.fullmatch(v):
            raise ValueError("must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return v

    @model_validator(mode="after")
    def _check(self) -> "DatasetSpec":
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("duplicate field names")
        if self.key not in names:
            raise ValueError(f"key {self.key!r} is not a declared field")
        return self

    def field(self, name: str) -> FieldSpec | None:
        return self.field_map().get(name)

    def field_map(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upstreams: dict[str, dict[str, str]] = {}
    datasets: list[DatasetSpec] = []


def parse_catalog_file(path: Path, data_dir: Path) -> CatalogFile:
    """Read a YAML or JSON catalog; ``${DATA_DIR}`` in upstream URLs becomes ``data_dir``."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read catalog {path}: {exc}") from exc
    try:
        cat = CatalogFile.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigError(f"invalid catalog {path}: {exc}") from exc
    for up in cat.upstreams.values():
        if "url" not in up:
            raise ConfigError(f"invalid catalog {path}: every upstream needs a url")
        up["url"] = up["url"].replace("${DATA_DIR}", str(data_dir.resolve()))
        up["url"] = os.path.expandvars(up["url"])
    return cat


class Catalog:
    """Datasets and upstreams, persisted in the state database."""

    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def register_upstream(self, upstream_id: str, url: str) -> None:
        if not _IDENT.fullmatch(upstream_id):
            raise Unprocessable("upstream id must be an identifier", code="invalid_upstream")
        with self._engine.begin() as conn:
            conn.execute(sa.delete(state.upstreams).where(state.upstreams.c.id == upstream_id))
            conn.execute(sa.insert(state.upstreams).values(id=upstream_id, url=url,
                                                            updated_at=_now()))

    def register_dataset(self, spec: DatasetSpec) -> None:
        with self._engine.begin() as conn:
            if conn.execute(sa.select(state.upstreams.c.id)
                            .where(state.upstreams.c.id == spec.upstream)).first() is None:
                raise Unprocessable(f"dataset {spec.id}: unknown upstream {spec.upstream!r}",
                                    code="unknown_upstream")
            conn.execute(sa.delete(state.datasets).where(state.datasets.c.id == spec.id))
            conn.execute(sa.insert(state.datasets).values(
                id=spec.id, spec=json.loads(spec.model_dump_json()), updated_at=_now()))

    def load_file(self, cat: CatalogFile) -> list[str]:
        for up_id, up in cat.upstreams.items():
            self.register_upstream(up_id, up["url"])
        for ds in cat.datasets:
            self.register_dataset(ds)
        return [d.id for d in cat.datasets]

    def get(self, dataset_id: str) -> DatasetSpec:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(state.datasets.c.spec)
                               .where(state.datasets.c.id == dataset_id)).first()
        if row is None:
            raise NotFound(f"no dataset {dataset_id!r}", code="unknown_dataset")
        return DatasetSpec.model_validate(row[0])

    def all(self) -> list[DatasetSpec]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(state.datasets.c.spec)
                                .order_by(state.datasets.c.id)).all()
        return [DatasetSpec.model_validate(r[0]) for r in rows]

    def upstream_urls(self) -> dict[str, str]:
        with self._engine.connect() as conn:
            return {r.id: r.url for r in conn.execute(sa.select(state.upstreams))}
