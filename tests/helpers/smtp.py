"""A local SMTP server (aiosmtpd) wired in as the Airflow connection smtp_default."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """Collects every message the server accepts (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook name
        self.messages.append(envelope)
        return "250 OK"


@contextmanager
def local_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """Start a server on a free 127.0.0.1 port and point AIRFLOW_CONN_SMTP_DEFAULT at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "credit-risk-pipeline@example.com"},
    }))
    try:
        yield inbox
    finally:
        controller.stop()
