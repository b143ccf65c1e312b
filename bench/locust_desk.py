"""Locust load for bench.bench_desk: sales users placing orders for random customers of the bench book.

Read by `locust -f bench/locust_desk.py`; DESK_BENCH_TOKEN, DESK_BENCH_CUSTOMERS and DESK_BENCH_RATE
(checks per second per user) come from the environment the benchmark sets.
"""

from __future__ import annotations

import os
import random

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

CUSTOMERS = int(os.environ.get("DESK_BENCH_CUSTOMERS", "1000"))
BEARER = os.environ.get("DESK_BENCH_TOKEN", "")


class Sales(FastHttpUser):
    """One sales user: a credit check at a fixed rate, for a random customer and amount."""

    wait_time = constant_throughput(float(os.environ.get("DESK_BENCH_RATE", "5")))

    @task
    def credit_check(self) -> None:
        body = {"account_id": f"BENCH-{random.randrange(CUSTOMERS):07d}",
                "amount": round(random.uniform(100, 20_000), 2), "currency": random.choice(["EUR", "USD"])}
        with self.client.post("/v1/credit-checks", json=body, headers={"Authorization": f"Bearer {BEARER}"},
                              name="POST /v1/credit-checks", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
