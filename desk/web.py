"""The analysts' web pages, rendered on the server: sign-in, the review queue and the customer page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from common.config import load_config
from desk import service
from desk.chart import pd_chart
from desk.service import DeskError
from desk.settings import DeskConfig

COOKIE = "desk_token"
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def reason_texts() -> dict[str, str]:
    """Rating reason code -> its text for people (config/reason_codes.yml)."""
    return {code: entry["text"] for code, entry in load_config("reason_codes")["codes"].items()}


def _page(name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(name).render(**context), status_code=http_status)


def add_pages(
    app: FastAPI,
    *,
    act: Callable[..., Any],
    cfg: DeskConfig,
    customer_pattern: str,
    customer_of: Callable[[str], str],
) -> None:
    """Mount the pages on the app; they read through the same role checks and audit as the API."""
    customer_re = re.compile(customer_pattern)

    def guarded(request: Request, action: str, target: str | None, work: Callable[[Any, Any], Any]) -> Any:
        try:
            return act(request, action, target, work, allow_cookie=True)
        except DeskError as exc:
            if exc.status == 401:
                return RedirectResponse("/login", status_code=303)
            return _page("error.html", http_status=exc.status, message=exc.message)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form() -> HTMLResponse:
        return _page("login.html")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        if not token:
            return _page("login.html", http_status=400, error="Paste your desk token.")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=8 * 3600)
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def queue(request: Request, status: str = "open") -> Any:
        status = status if status in ("open", "closed") else "open"

        def work(cur: Any, who: Any) -> HTMLResponse:
            cases = service.list_cases(cur, status, None, None, 500)
            return _page("queue.html", cases=cases, status=status, who=who, today=date.today())

        return guarded(request, "case.read", None, work)

    @app.get("/customers", include_in_schema=False)
    def find_customer(account_id: str = "") -> Response:
        try:
            return RedirectResponse(f"/customers/{customer_of(account_id.strip())}", status_code=303)
        except DeskError as exc:
            return _page("error.html", http_status=exc.status, message=exc.message)

    @app.get("/customers/{customer_id}", response_class=HTMLResponse, include_in_schema=False)
    def customer_page(customer_id: str, request: Request) -> Any:
        if not customer_re.fullmatch(customer_id):
            return _page("error.html", http_status=422, message="not a customer id")

        def work(cur: Any, who: Any) -> HTMLResponse:
            view = service.customer_view(cur, customer_id)
            if view is None:
                return _page(
                    "error.html", http_status=404, message="unknown customer: no rating is published"
                )
            history = view["rating_history"]
            chart = pd_chart([(v["valid_from_date"], v["pd_12m"], v["rating_grade"]) for v in history])
            texts = reason_texts()
            latest = history[-1]
            reasons = [texts.get(code, code) for code in latest["reason_codes"]]
            return _page(
                "customer.html",
                view=view,
                latest=latest,
                chart=chart,
                reasons=reasons,
                who=who,
                outcomes=cfg.outcomes,
                reason_codes=cfg.reason_codes,
            )

        return guarded(request, "customer.read", f"customer:{customer_id}", work)
