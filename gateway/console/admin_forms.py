"""Form input of the admin pages turned into the services' own models, and upstream URLs
made safe to show.

A browser form is flat text; the services take the same pydantic models as the JSON API
(:class:`gateway.licenses.LicenseIn`), so the form is mapped onto that model and its
validation decides. Failures name the field and the rule, never the submitted value.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from starlette.datastructures import FormData

from gateway.catalog import DatasetSpec
from gateway.clock import CST
from gateway.errors import Unprocessable
from gateway.licenses import LicenseIn
from gateway.quotas import QUOTA_KEYS

# License terms are entered as calendar days in China Standard Time (the disclosure year
# is counted in CST too); the last day is included.
FIELD_PREFIX = "field:"
_LIST_SPLIT = re.compile(r"[\r\n,，;；]+")
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.IGNORECASE)
HIDDEN = "***"


def invalid(message: str) -> Unprocessable:
    return Unprocessable(message, code="invalid_request")


def _text(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{name}: expected text")
    if len(value) > limit:
        raise invalid(f"{name}: at most {limit} characters")
    return value.strip()


def split_list(text: str) -> list[str]:
    """One item per line (commas and semicolons, ASCII or full-width, also separate)."""
    return [part.strip() for part in _LIST_SPLIT.split(text) if part.strip()]


def _day(form: FormData, name: str) -> dt.date | None:
    text = _text(form, name, 32)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise invalid(f"{name}: expected a date (YYYY-MM-DD)") from None


def _count(form: FormData, name: str) -> int | None:
    text = _text(form, name, 32)
    if not text:
        return None
    if not text.isdigit():
        raise invalid(f"{name}: expected a whole number of zero or more")
    return int(text)


def validation_message(exc: ValidationError) -> str:
    """Where and what, for the first few problems; never the input."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc or 'form'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid form"


def license_from_form(form: FormData, datasets: list[DatasetSpec]) -> LicenseIn:
    """The issue form as the API's ``LicenseIn``; 422 ``invalid_request`` when it is not
    one. A dataset is licensed when at least one of its fields is ticked."""
    chosen = []
    for ds in datasets:
        fields = [f for f in form.getlist(FIELD_PREFIX + ds.id) if isinstance(f, str)]
        if fields:
            chosen.append({"dataset_id": ds.id, "fields": fields})
    start, end = _day(form, "term_start"), _day(form, "term_end")
    quota = {}
    for key in QUOTA_KEYS:
        n = _count(form, "quota_" + key)
        if n is not None:
            quota[key] = n
    fee_mode = _text(form, "fee_mode", 8)
    body: dict[str, Any] = {
        "operator_id": _text(form, "operator_id", 64),
        "datasets": chosen,
        "modes": [m for m in form.getlist("modes") if isinstance(m, str)],
        "purposes": split_list(_text(form, "purposes")),
        "scenarios": split_list(_text(form, "scenarios")),
        "products": split_list(_text(form, "products")),
        "term_start": dt.datetime.combine(start, dt.time(), CST) if start else None,
        # The end day is included: the term ends when the next day begins.
        "term_end": dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), CST)
        if end else None,
        "fee_mode": fee_mode or None,
        "unit": _text(form, "unit", 16) or None,
        "price_cap": _text(form, "price_cap", 32) or None,
        "price": _text(form, "price", 32) or None,
        "quota": quota,
        "security_responsibility": _text(form, "security_responsibility"),
        "destruction_days": _count(form, "destruction_days"),
    }
    try:
        return LicenseIn.model_validate(body)
    except ValidationError as exc:
        raise invalid(validation_message(exc)) from None


def term_days(term_start: str, term_end: str) -> tuple[str, str]:
    """A license term (RFC 3339) as the first and last calendar day in China Standard Time,
    the way the issue form asks for it."""
    start = dt.datetime.fromisoformat(term_start).astimezone(CST)
    end = dt.datetime.fromisoformat(term_end).astimezone(CST) - dt.timedelta(microseconds=1)
    return start.date().isoformat(), end.date().isoformat()


def license_form_values(form: FormData) -> dict[str, Any]:
    """The submitted values to put back into the form after a refusal."""
    values: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        values[key] = items if key.startswith(FIELD_PREFIX) or key == "modes" else \
            (items[0] if items else "")
    return values


def masked_url(url: str) -> str:
    """An upstream URL without its secrets: the password and any query parameter that
    looks like a credential are replaced by ``***``. A URL that cannot be parsed is not
    shown at all (only its scheme)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme = url.split(":", 1)[0] if ":" in url else ""
        return f"{scheme}:{HIDDEN}" if scheme.isidentifier() else HIDDEN
    query = {name: (HIDDEN if _SECRET_PARAM.search(name) else value)
             for name, value in parsed.query.items()}
    text = parsed.set(query=query).render_as_string(hide_password=True)
    return text.replace("%2A%2A%2A", HIDDEN)
