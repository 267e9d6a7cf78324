"""Routers for conditional-open applications, data-use agreements, licenses and the
disclosure report. Operators apply (``/v1``); reviewers decide and admins license
(``/admin/v1``). Every rule lives in gateway.applications / licenses / metering."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from gateway import agreements, applications, licenses, metering
from gateway.api.deps import AdminDep, OperatorDep, ServicesDep, require_role
from gateway.applications import ApplicationIn, ApprovalIn, AppState
from gateway.auth import Principal
from gateway.licenses import LicenseAction, LicenseIn, LicenseStatus

ReviewerDep = Annotated[Principal, Depends(require_role("reviewer"))]

operator_router = APIRouter(prefix="/v1", tags=["applications"])
review_router = APIRouter(prefix="/admin/v1", tags=["review"])
license_router = APIRouter(prefix="/admin/v1", tags=["licenses"])


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(max_length=64)
    dataset_id: str = Field(max_length=64)
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=100_000)


# --- operators ------------------------------------------------------------------------


@operator_router.get("/agreements")
def list_agreements(svc: ServicesDep, _: OperatorDep,
                    dataset_id: str | None = None) -> dict[str, Any]:
    """The current data-use agreement of each dataset, text and SHA-256 to accept."""
    return {"agreements": [a.to_json() for a in
                           agreements.list_agreements(svc.state_engine, dataset_id)]}


@operator_router.get("/agreements/{agreement_id}")
def get_agreement(agreement_id: str, svc: ServicesDep, _: OperatorDep,
                  version: int | None = None) -> dict[str, Any]:
    return agreements.get_agreement(svc.state_engine, agreement_id, version).to_json()


@operator_router.post("/applications", status_code=201)
def submit(body: ApplicationIn, svc: ServicesDep, me: OperatorDep) -> dict[str, Any]:
    """Apply for conditional-open (or not-open aggregate/verify) data."""
    app_id = applications.submit(svc.state_engine, svc.catalog, me, body)
    return applications.get_application(svc.state_engine, app_id)


@operator_router.get("/applications")
def my_applications(svc: ServicesDep, me: OperatorDep,
                    state: AppState | None = None) -> dict[str, Any]:
    return {"applications": applications.list_applications(svc.state_engine,
                                                           operator_id=me.id, state=state)}


@operator_router.get("/applications/{app_id}")
def my_application(app_id: str, svc: ServicesDep, me: OperatorDep) -> dict[str, Any]:
    return applications.get_application(svc.state_engine, app_id, operator_id=me.id)


@operator_router.post("/applications/{app_id}/resubmit")
def resubmit(app_id: str, body: ApplicationIn, svc: ServicesDep,
             me: OperatorDep) -> dict[str, Any]:
    """Edit a returned application and submit it again."""
    applications.resubmit(svc.state_engine, svc.catalog, me, app_id, body)
    return applications.get_application(svc.state_engine, app_id)


@operator_router.post("/applications/{app_id}/withdraw")
def withdraw(app_id: str, svc: ServicesDep, me: OperatorDep,
             body: NoteIn | None = None) -> dict[str, Any]:
    applications.withdraw(svc.state_engine, me, app_id, body.note if body else "")
    return applications.get_application(svc.state_engine, app_id)


@operator_router.get("/licenses")
def my_licenses(svc: ServicesDep, me: OperatorDep) -> dict[str, Any]:
    return {"licenses": licenses.list_licenses(svc.state_engine, operator_id=me.id)}


# --- reviewers ------------------------------------------------------------------------


@review_router.get("/applications")
def review_queue(svc: ServicesDep, _: ReviewerDep,
                 state: AppState | Literal["all"] = "submitted") -> dict[str, Any]:
    """The review queue: submitted applications, oldest first (``state=all`` for every
    application)."""
    return {"applications": applications.list_applications(
        svc.state_engine, state=None if state == "all" else state)}


@review_router.get("/applications/{app_id}")
def review_detail(app_id: str, svc: ServicesDep, _: ReviewerDep) -> dict[str, Any]:
    return applications.review_view(applications.get_application(svc.state_engine, app_id),
                                    svc.catalog)


@review_router.post("/applications/{app_id}/approve")
def approve(app_id: str, body: ApprovalIn, svc: ServicesDep,
            me: ReviewerDep) -> dict[str, Any]:
    """Approve, possibly narrowing fields and period, adding a row filter and quotas."""
    applications.approve(svc.state_engine, svc.catalog, me, app_id, body)
    return applications.get_application(svc.state_engine, app_id)


@review_router.post("/applications/{app_id}/reject")
def reject(app_id: str, body: ReasonIn, svc: ServicesDep, me: ReviewerDep) -> dict[str, Any]:
    applications.decide_without_grant(svc.state_engine, me, app_id, "reject", body.reason)
    return applications.get_application(svc.state_engine, app_id)


@review_router.post("/applications/{app_id}/return")
def return_for_changes(app_id: str, body: ReasonIn, svc: ServicesDep,
                       me: ReviewerDep) -> dict[str, Any]:
    applications.decide_without_grant(svc.state_engine, me, app_id, "return", body.reason)
    return applications.get_application(svc.state_engine, app_id)


@review_router.post("/agreements", status_code=201)
def publish_agreement(body: AgreementIn, svc: ServicesDep, me: AdminDep) -> dict[str, Any]:
    """Publish the next version of a dataset's data-use agreement."""
    svc.catalog.get(body.dataset_id)
    return agreements.publish_agreement(svc.state_engine, body.id, body.dataset_id,
                                        body.title, body.text, by=me.id).to_json()


# --- licenses and the disclosure report (admin) ----------------------------------------


@license_router.post("/licenses", status_code=201)
def issue_license(body: LicenseIn, svc: ServicesDep, me: AdminDep) -> dict[str, Any]:
    lic_id = licenses.issue(svc.state_engine, svc.catalog, me, body)
    return licenses.get_license(svc.state_engine, lic_id)


@license_router.get("/licenses")
def list_licenses(svc: ServicesDep, _: AdminDep,
                  status: LicenseStatus | None = None) -> dict[str, Any]:
    return {"licenses": licenses.list_licenses(svc.state_engine, status=status)}


@license_router.get("/licenses/{license_id}")
def get_license(license_id: str, svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    return licenses.get_license(svc.state_engine, license_id)


@license_router.post("/licenses/{license_id}/{action}")
def change_license(license_id: str, action: LicenseAction, svc: ServicesDep, me: AdminDep,
                   body: NoteIn | None = None) -> dict[str, Any]:
    """Suspend, resume, revoke or expire; the license's grants follow at once."""
    licenses.change_status(svc.state_engine, me, license_id, action, body.note if body else "")
    return licenses.get_license(svc.state_engine, license_id)


@license_router.get("/reports/disclosure", response_model=None)
def disclosure(year: int, svc: ServicesDep, _: AdminDep,
               format: Literal["json", "csv"] = "json") -> Any:
    """The annual public disclosure of licenses, products and fees."""
    report = metering.disclosure(svc.state_engine, year)
    if format == "json":
        return report
    return Response(metering.render_disclosure(report, "csv"),
                    media_type="text/csv; charset=utf-8")


routers = (operator_router, review_router, license_router)
