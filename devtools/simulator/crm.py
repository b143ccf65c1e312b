"""The CRM tables of one chunk of customers: accounts, contacts, activities, tickets, opportunities.

Each generator draws over the whole horizon and returns the rows that exist at the cut, in their
state as of then, so a later cut only adds rows and advances changed ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devtools.simulator.clock import Clock, asof
from devtools.simulator.customers import (
    CURRENCIES,
    HORIZON_DAYS,
    INDUSTRIES,
    REGIONS,
    SIZE_AMOUNT,
    SIZE_VOLUME,
    SIZES,
    Customers,
    draw_events,
    ids,
    seq,
    sigmoid,
)

NAMES_A = np.array(
    [
        "Alpen",
        "Nord",
        "Blue",
        "Silver",
        "Oak",
        "River",
        "Summit",
        "Prime",
        "Delta",
        "Nova",
        "Atlas",
        "Cedar",
        "Falcon",
        "Harbor",
        "Iron",
        "Maple",
        "Orion",
        "Pioneer",
        "Quartz",
        "Vertex",
    ]
)
NAMES_B = np.array(
    [
        "Trading",
        "Logistics",
        "Foods",
        "Systems",
        "Works",
        "Partners",
        "Industries",
        "Retail",
        "Services",
        "Construction",
        "Health",
        "Digital",
    ]
)
SUFFIXES = np.array(["GmbH", "AG", "Ltd", "SA", "BV", "SRL"])
FIRST = np.array(
    [
        "Anna",
        "Ben",
        "Clara",
        "David",
        "Eva",
        "Felix",
        "Greta",
        "Hugo",
        "Ines",
        "Jonas",
        "Lena",
        "Marco",
        "Nina",
        "Oscar",
        "Paula",
        "Rafael",
        "Sara",
        "Tom",
        "Ursula",
        "Viktor",
    ]
)
LAST = np.array(
    [
        "Muller",
        "Schmidt",
        "Rossi",
        "Dubois",
        "Smith",
        "Keller",
        "Weber",
        "Bianchi",
        "Martin",
        "Fischer",
        "Meyer",
        "Wagner",
        "Huber",
        "Moreau",
        "Brown",
        "Jones",
    ]
)


def accounts(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    """Accounts: active, inactive once the customer stops trading. The CRM keeps the sales view: a
    credit stop and a write-off after a default are recorded in finance (a limit of 0, a write_off
    event), not as an account status."""
    n = c.n
    rename_day = np.where(rng.random(n) < 0.15, c.w0 + rng.uniform(0, HORIZON_DAYS, n), np.inf)
    base = np.strings.add(
        np.strings.add(NAMES_A[rng.integers(0, len(NAMES_A), n)], " "),
        NAMES_B[rng.integers(0, len(NAMES_B), n)],
    )
    old_suffix = SUFFIXES[rng.integers(0, len(SUFFIXES), n)]
    new_suffix = SUFFIXES[rng.integers(0, len(SUFFIXES), n)]
    suffix = np.where(rename_day <= cut, new_suffix, old_suffix)
    status = np.where(c.inactive_day <= cut, "inactive", "active")
    created_ts = c.created
    updated = asof(cut, created_ts, rename_day, c.inactive_day)
    frame = pd.DataFrame(
        {
            "account_id": ids("C", c.num),
            "legal_name": np.strings.add(np.strings.add(base, " "), suffix),
            "tax_id": np.strings.add("TX", np.strings.zfill(rng.integers(0, 10**9, n).astype(str), 9)),
            "industry": INDUSTRIES[c.industry],
            "region": REGIONS[c.region],
            "size_band": SIZES[c.size],
            "status": status,
            "created_at": clock.ts(created_ts),
            "updated_at": clock.ts(updated),
        }
    )
    return frame[created_ts < cut]


def contacts(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    k = 1 + rng.poisson(np.array([0.5, 1.0, 2.0])[c.size])
    idx = np.repeat(np.arange(c.n), k)
    m = idx.size
    created = np.maximum(c.created[idx], -3650) + rng.uniform(0, 20, m)
    email_change = np.where(rng.random(m) < 0.2, created + rng.uniform(30, 900, m), np.inf)
    first = FIRST[rng.integers(0, len(FIRST), m)]
    last = LAST[rng.integers(0, len(LAST), m)]
    domain = np.where(email_change <= cut, "mail.example", "example.com")
    email = np.strings.add(
        np.strings.add(np.strings.add(np.strings.lower(first), "."), np.strings.lower(last)),
        np.strings.add("@", domain),
    )
    frame = pd.DataFrame(
        {
            "contact_id": ids("K", c.num[idx], seq(idx), 2),
            "account_id": ids("C", c.num[idx]),
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": np.strings.add("+41 ", rng.integers(10**8, 10**9, m).astype(str)),
            "created_at": clock.ts(created),
            "updated_at": clock.ts(asof(cut, created, email_change)),
        }
    )
    return frame[created < cut]


def activities(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    idx, t = draw_events(rng, 0.2 / 30 * SIZE_VOLUME[c.size], c.w0, c.w1)
    m = idx.size
    s = c.stress(idx, t)
    u = rng.random(m)
    p_neg = sigmoid(-2.5 + 0.8 * s)
    outcome = np.where(
        u < p_neg,
        "negative",
        np.where(u < p_neg + 0.15, "no_answer", np.where(u < p_neg + 0.55, "positive", "neutral")),
    )
    late = rng.random(m) < 0.1  # logged days after the activity: a late update
    created = t + np.where(late, rng.uniform(1, 7, m), rng.uniform(0.01, 0.2, m))
    frame = pd.DataFrame(
        {
            "activity_id": ids("A", c.num[idx], seq(idx)),
            "account_id": ids("C", c.num[idx]),
            "activity_type": np.array(["call", "meeting", "email"])[rng.choice(3, m, p=[0.5, 0.2, 0.3])],
            "activity_at": clock.ts(t),
            "outcome": outcome,
            "created_at": clock.ts(created),
            "updated_at": clock.ts(created),
        }
    )
    return frame[created < cut]


def tickets(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    bound = 0.6 * (np.maximum(c.z, 0) + 2.5 * np.isfinite(c.default_day))
    idx, t = draw_events(rng, 0.03 / 30 * SIZE_VOLUME[c.size] * np.exp(bound), c.w0, c.w1)
    s = c.stress(idx, t)
    keep = rng.random(idx.size) < np.exp(0.6 * s - bound[idx])  # thinning: rate follows stress over time
    idx, t, s = idx[keep], t[keep], s[keep]
    m = idx.size
    u = rng.random(m)
    p_complaint = sigmoid(-1.0 + 0.7 * s)
    category = np.where(u < p_complaint, "complaint", np.where(rng.random(m) < 0.6, "question", "incident"))
    severity = np.clip(1 + rng.poisson(0.5 + 0.4 * np.maximum(s, 0)), 1, 4)
    closed = t + rng.exponential(2.0 * severity)
    frame = pd.DataFrame(
        {
            "ticket_id": ids("T", c.num[idx], seq(idx)),
            "account_id": ids("C", c.num[idx]),
            "category": category,
            "severity": severity.astype("int64"),
            "opened_at": clock.ts(t),
            "closed_at": clock.ts(np.where(closed <= cut, closed, np.nan)),
            "created_at": clock.ts(t),
            "updated_at": clock.ts(asof(cut, t, closed)),
        }
    )
    return frame[t < cut]


def opportunities(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    idx, t = draw_events(rng, 0.1 / 30 * SIZE_VOLUME[c.size], c.w0, c.w1)
    m = idx.size
    s = c.stress(idx, t)
    closed = t + rng.uniform(10, 90, m)
    won = rng.random(m) < sigmoid(0.3 - 0.6 * s)
    is_closed = closed <= cut
    frame = pd.DataFrame(
        {
            "opportunity_id": ids("O", c.num[idx], seq(idx)),
            "account_id": ids("C", c.num[idx]),
            "amount": np.round(SIZE_AMOUNT[c.size[idx]] * 5 * rng.lognormal(0, 0.7, m), 2),
            "currency": CURRENCIES[c.currency[idx]],
            "stage": np.where(is_closed, np.where(won, "won", "lost"), "open"),
            "created_at": clock.ts(t),
            "closed_at": clock.ts(np.where(is_closed, closed, np.nan)),
            "updated_at": clock.ts(asof(cut, t, closed)),
        }
    )
    return frame[t < cut]
