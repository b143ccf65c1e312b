"""The credit desk's HTTP API (FastAPI): authentication, role checks, error mapping, one transaction per action."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import psycopg2
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.pseudonym import require_pseudonym_key
from desk import audit, service, web
from desk.auth import Principal, TokenCache
from desk.customers import ACCOUNT_ID_PATTERN, CUSTOMER_ID_PATTERN, customer_id_for
from desk.db import Database, desk_url
from desk.limits import BodySizeLimit
from desk.service import CheckRequest, DeskError
from desk.settings import DeskConfig

T = TypeVar("T")
AccountId = Field(pattern=ACCOUNT_ID_PATTERN, description="The CRM's account id")


class CreditCheckIn(BaseModel):
    """An order to check."""

    model_config = ConfigDict(extra="forbid")
    account_id: str = AccountId
    amount: Decimal = Field(
        gt=0,
        le=Decimal("1e12"),
        max_digits=18,
        decimal_places=2,
        description="Order amount in `currency`, > 0, at most 2 decimals",
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code; see config/desk.yml currencies")
    order_ref: str | None = Field(default=None, max_length=64, description="The order's reference in the ERP")


class CreditCheckOut(BaseModel):
    check_id: int
    customer_id: str
    outcome: str = Field(description="pass, refer or block")
    reasons: list[str]
    amount: str
    currency: str
    amount_eur: str
    credit_limit: str
    limit_source: str
    exposure_before_eur: str
    rating_grade: str
    rating_as_of: str | None
    case_id: int | None
    checked_at: str | None


class CloseCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(description="One of config/desk.yml outcomes")
    reason_code: str = Field(description="One of config/desk.yml reason_codes")
    note: str | None = Field(
        default=None, max_length=2000, description="Why; required for overrides and blocks"
    )
    override_limit: Decimal | None = Field(
        default=None, ge=0, le=Decimal("1e12"), max_digits=18, decimal_places=2
    )
    override_expires_on: dt.date | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str = Field(min_length=1, max_length=2000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def _error(status: int, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(status_code=status, content=body)


def _validation_details(exc: RequestValidationError) -> tuple[int, str, list[dict[str, str]]]:
    details = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return 400, "malformed JSON body", details
    return 422, "invalid request: " + "; ".join(f"{d['field']}: {d['message']}" for d in details), details


def create_app(url: str | None = None, cfg: DeskConfig | None = None) -> FastAPI:
    """The desk app over the warehouse at url (default: desk_url()) with config/desk.yml.

    Refuses to start (PseudonymKeyError) without a pseudonym key outside development mode.
    """
    require_pseudonym_key()
    cfg = cfg or DeskConfig.load()
    state: dict[str, Database] = {}
    tokens = TokenCache()

    def db() -> Database:
        if "db" not in state:
            state["db"] = Database(url or desk_url(), prepare=service.CHECK_STATEMENTS)
        return state["db"]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if "db" in state:
            state["db"].close()

    app = FastAPI(
        lifespan=lifespan,
        title="Credit desk",
        version="1",
        description="Order-time credit checks and the credit review queue over the warehouse's ratings. "
        "Authenticate with `Authorization: Bearer <token>` (tokens: `python -m desk token create`).",
    )
    app.add_middleware(BodySizeLimit, max_bytes=cfg.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, details = _validation_details(exc)
        return _error(status, message, details)

    @app.exception_handler(DeskError)
    async def _refused(_: Request, exc: DeskError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(psycopg2.OperationalError)
    async def _db_down(_: Request, exc: psycopg2.OperationalError) -> JSONResponse:
        return _error(503, "the warehouse is not reachable; retry shortly")

    def principal(request: Request, allow_cookie: bool) -> Principal | None:
        header = request.headers.get("authorization", "")
        presented = header[7:].strip() if header.lower().startswith("bearer ") else None
        if presented is None and allow_cookie:
            presented = request.cookies.get(web.COOKIE)
        if not presented:
            return None
        return tokens.principal(presented, db().transaction)

    def act(
        request: Request,
        action: str,
        target: str | None,
        work: Callable[[Any, Principal], T],
        allow_cookie: bool = False,
    ) -> T:
        """Authenticate, authorise, run `work` in one transaction; refusals are audited in their own."""
        who = principal(request, allow_cookie)
        if who is None:
            with db().transaction() as cur:
                audit.record(
                    cur,
                    actor="unauthenticated",
                    role=None,
                    action=action,
                    outcome="denied",
                    target=target,
                    why="missing or unknown token",
                )
            raise DeskError(401, "missing or unknown token: send Authorization: Bearer <token>")
        if not who.may(action):
            with db().transaction() as cur:
                audit.record(
                    cur,
                    actor=who.user,
                    role=who.role,
                    action=action,
                    outcome="denied",
                    target=target,
                    why=f"role {who.role} may not {action}",
                )
            raise DeskError(403, f"role {who.role} may not {action}")
        try:
            with db().transaction() as cur:
                return work(cur, who)
        except DeskError as exc:
            with db().transaction() as cur:
                audit.record(
                    cur,
                    actor=who.user,
                    role=who.role,
                    action=action,
                    outcome=f"refused {exc.status}",
                    target=target,
                    why=exc.message,
                )
            raise

    def customer(account_id: str) -> str:
        try:
            return customer_id_for(account_id)
        except ValueError as exc:
            raise DeskError(422, str(exc)) from exc

    @app.post(
        "/v1/credit-checks",
        response_model=CreditCheckOut,
        tags=["credit checks"],
        responses={
            400: {"description": "malformed JSON"},
            401: {"description": "no or unknown token"},
            403: {"description": "role may not check"},
            404: {"description": "unknown customer"},
            413: {"description": "body too large"},
            422: {"description": "invalid field"},
        },
    )
    def create_check(body: CreditCheckIn, request: Request) -> JSONResponse:
        """Check an order: `pass`, `refer` (a credit analyst decides; a case is opened) or `block`, with reasons."""
        req = CheckRequest(
            customer_id=customer(body.account_id),
            amount=body.amount,
            currency=body.currency,
            order_ref=body.order_ref,
        )
        # the hot path: returned as built, not validated again against the response model
        return JSONResponse(
            act(
                request,
                "check.create",
                body.order_ref,
                lambda cur, who: service.credit_check(cur, cfg, who, req, dt.date.today()),
            )
        )

    @app.get("/v1/credit-checks", tags=["credit checks"])
    def list_checks(
        request: Request,
        account_id: str = Query(pattern=ACCOUNT_ID_PATTERN),
        limit: int = Query(50, ge=1, le=500),
    ) -> list[dict[str, Any]]:
        """Past checks of a customer, newest first."""
        cid = customer(account_id)

        def work(cur: Any, _: Principal) -> list[dict[str, Any]]:
            cur.execute(service.queries("desk")["list_checks"], {"c": cid, "limit": limit})
            return service._rows(cur)

        return act(request, "check.read", f"customer:{cid}", work)

    @app.post("/v1/credit-checks/{check_id}/close", tags=["credit checks"])
    def close_check(check_id: int, body: ReasonIn, request: Request) -> dict[str, Any]:
        """The order was invoiced or cancelled: the check stops counting as exposure."""
        return act(
            request,
            "check.close",
            f"check:{check_id}",
            lambda cur, who: service.close_check(cur, who, check_id, body.reason),
        )

    @app.get("/v1/cases", tags=["review queue"])
    def cases(
        request: Request,
        status: str | None = Query("open", pattern="^(open|closed)$"),
        owner: str | None = Query(None, max_length=100),
        limit: int = Query(200, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """The review queue: open cases by due date (or closed ones, or one owner's)."""
        return act(
            request, "case.read", None, lambda cur, _: service.list_cases(cur, status, owner, None, limit)
        )

    @app.post("/v1/cases/sync", tags=["review queue"])
    def sync(request: Request) -> dict[str, int]:
        """Open cases for review/hold decisions and critical warnings of the latest ratings (idempotent)."""
        return act(request, "case.sync", None, lambda cur, who: service.sync_cases(cur, cfg, who))

    @app.post("/v1/cases/{case_id}/close", tags=["review queue"])
    def close(case_id: int, body: CloseCaseIn, request: Request) -> dict[str, Any]:
        """Close a case with an outcome and reason code (override_limit: a limit override, four eyes above the
        configured amount)."""
        return act(
            request,
            "case.close",
            f"case:{case_id}",
            lambda cur, who: service.close_case(cur, cfg, who, case_id, body.model_dump(), dt.date.today()),
        )

    @app.post("/v1/overrides/{override_id}/decision", tags=["review queue"])
    def decide(override_id: int, body: DecisionIn, request: Request) -> dict[str, Any]:
        """Second approver: approve or reject a pending limit override (never the requester)."""
        return act(
            request,
            "override.approve",
            f"override:{override_id}",
            lambda cur, who: service.decide_override(cur, who, override_id, body.approve, body.reason),
        )

    @app.post("/v1/customers/{account_id}/block/lift", tags=["customers"])
    def lift(account_id: str, body: ReasonIn, request: Request) -> dict[str, Any]:
        """Lift a customer's credit block."""
        cid = customer(account_id)
        return act(
            request,
            "block.lift",
            f"customer:{cid}",
            lambda cur, who: service.lift_block(cur, who, cid, body.reason),
        )

    @app.get("/v1/customers/{account_id}", tags=["customers"])
    def customer_detail(account_id: str, request: Request) -> dict[str, Any]:
        """Rating history, warnings, limits and overrides, checks and cases of a customer."""
        cid = customer(account_id)

        def work(cur: Any, _: Principal) -> dict[str, Any]:
            found = service.customer_view(cur, cid)
            if found is None:
                raise DeskError(404, "unknown customer: no rating is published for this account id")
            return found

        return act(request, "customer.read", f"customer:{cid}", work)

    @app.get("/v1/audit", tags=["audit"])
    def audit_log(
        request: Request,
        actor: str | None = Query(None, max_length=100),
        limit: int = Query(200, ge=1, le=5000),
    ) -> list[dict[str, Any]]:
        """The audit trail, newest first."""
        return act(request, "audit.read", None, lambda cur, _: service.list_audit(cur, actor, limit))

    web.add_pages(app, act=act, cfg=cfg, customer_pattern=CUSTOMER_ID_PATTERN, customer_of=customer)
    return app
