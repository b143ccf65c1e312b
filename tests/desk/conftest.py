"""One migrated warehouse and one running desk per test module (the service is a real uvicorn process)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from common.migrate import migrate
from common.transform import build_bi_views
from devtools.scratch import create_database, drop_database
from tests.helpers.desk import running_desk


@dataclass
class Desk:
    url: str  # the warehouse (admin)
    base: str  # the service
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def desk_warehouse(admin_url: str) -> Iterator[str]:
    name = f"t_desk_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    migrate(url)
    build_bi_views(url)  # the desk's role reads the BI views (a member of bi_reader)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="module")
def desk(desk_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    log = tmp_path_factory.mktemp("desk") / "desk.log"
    with running_desk(desk_warehouse, log) as base:
        yield Desk(url=desk_warehouse, base=base, log=log)
