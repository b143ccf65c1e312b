"""Locust load for bench.bench_desk: sales users placing orders for random customers of the bench book.

Read by `locust -f bench/locust_desk.py`; DESK_BENCH_TOKEN, DESK_BENCH_CUSTOMERS and DESK_BENCH_RATE
(checks per second per user) come from the environment the benchmark sets.

Orders arrive as a Poisson process, as independent salespeople place them: each user draws its next
arrival time from an exponential gap on its own schedule (open loop: a slow answer does not delay the
next order), so N users at rate r together send a Poisson stream of N x r checks per second. A fixed
period per user (locust's constant_throughput) would instead send all users' checks in step, bursts of N
at once, which is not how orders arrive.
"""

from __future__ import annotations

import os
import random
import time

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser

CUSTOMERS = int(os.environ.get("DESK_BENCH_CUSTOMERS", "1000"))
BEARER = os.environ.get("DESK_BENCH_TOKEN", "")
RATE = float(os.environ.get("DESK_BENCH_RATE", "5"))


class Sales(FastHttpUser):
    """One sales user: credit checks arriving at RATE per second on average (exponential gaps), for a
    random customer and amount."""

    _next_arrival: float | None = None

    def on_start(self) -> None:
        """Start at a random moment too, so the users' first checks do not arrive together."""
        gevent.sleep(random.expovariate(RATE))

    def wait_time(self) -> float:
        """Seconds until this user's next scheduled arrival (0 when the schedule is behind)."""
        now = time.monotonic()
        if self._next_arrival is None:
            self._next_arrival = now
        self._next_arrival += random.expovariate(RATE)
        return max(0.0, self._next_arrival - now)

    @task
    def credit_check(self) -> None:
        body = {
            "account_id": f"BENCH-{random.randrange(CUSTOMERS):07d}",
            "amount": round(random.uniform(100, 20_000), 2),
            "currency": random.choice(["EUR", "USD"]),
        }
        with self.client.post(
            "/v1/credit-checks",
            json=body,
            headers={"Authorization": f"Bearer {BEARER}"},
            name="POST /v1/credit-checks",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
