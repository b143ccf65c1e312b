"""Source-system simulator: writes a CRM and a finance database with learnable credit risk.

    python -m ingest.simulate --customers 2000 --start 2024-01-01 --end 2025-06-30 --seed 7 [--dirty-rate 0.01]

Determinism: every random draw is made over a fixed horizon (HORIZON_DAYS from --start), per chunk of
CHUNK_SIZE customers with its own seeded generator, and only then cut at --end: a row whose created_at
lies after the end of --end does not exist yet, and a row's status/updated_at are its state as of then.
So `--end D2` is exactly `--end D1` advanced, and rerunning with a later --end replaces the source
content with the advanced state (that is how daily extraction sees each day's changes, including late
updates whose updated_at is days after the event).

Each customer carries a latent risk z (plus industry/region/size shifts) that sets a yearly default
probability; in the 180 days before a default the customer's stress ramps up, which drives late
payments, disputes, complaints, negative activity outcomes, limit cuts and bureau score decline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.warehouse import CRM_SOURCE, FINANCE_SOURCE, connect, connection_url, copy_rows
from ingest.sources import SourceSpec, TableSpec, load_sources

HORIZON_DAYS = 3 * 366  # draws cover this many days from --start, whatever --end is
CHUNK_SIZE = 50_000  # customers per generator; memory stays flat at any scale
CURRENCIES = np.array(["EUR", "USD", "GBP", "CHF"])
CURRENCY_P = [0.80, 0.10, 0.06, 0.04]
INDUSTRIES = np.array(["retail", "construction", "manufacturing", "logistics", "hospitality", "it_services",
                       "healthcare", "wholesale"])
INDUSTRY_SHIFT = np.array([0.2, 0.5, 0.0, 0.3, 0.6, -0.3, -0.5, 0.1])  # logit shift of yearly PD
REGIONS = np.array(["north", "south", "east", "west", "central", "islands"])
REGION_SHIFT = np.array([-0.2, 0.3, 0.2, -0.1, 0.0, 0.4])
SIZES = np.array(["small", "medium", "large"])
SIZE_P = [0.6, 0.3, 0.1]
SIZE_SHIFT = np.array([0.3, 0.0, -0.4])
SIZE_VOLUME = np.array([1.0, 2.0, 4.0])  # activity/invoice rate multiplier
SIZE_AMOUNT = np.array([800.0, 3000.0, 12000.0])  # typical invoice amount
BASE_LOGIT = -3.75  # about 4-5 % of customers default within 12 months
RAMP_DAYS = 180.0  # stress ramps up over this many days before a default
NAMES_A = np.array(["Alpen", "Nord", "Blue", "Silver", "Oak", "River", "Summit", "Prime", "Delta", "Nova",
                    "Atlas", "Cedar", "Falcon", "Harbor", "Iron", "Maple", "Orion", "Pioneer", "Quartz", "Vertex"])
NAMES_B = np.array(["Trading", "Logistics", "Foods", "Systems", "Works", "Partners", "Industries", "Retail",
                    "Services", "Construction", "Health", "Digital"])
SUFFIXES = np.array(["GmbH", "AG", "Ltd", "SA", "BV", "SRL"])
FIRST = np.array(["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Lena",
                  "Marco", "Nina", "Oscar", "Paula", "Rafael", "Sara", "Tom", "Ursula", "Viktor"])
LAST = np.array(["Muller", "Schmidt", "Rossi", "Dubois", "Smith", "Keller", "Weber", "Bianchi", "Martin",
                 "Fischer", "Meyer", "Wagner", "Huber", "Moreau", "Brown", "Jones"])
APPROVERS = np.array(["a.keller", "b.rossi", "c.smith", "d.weber", "credit_committee"])
AGENCIES = np.array(["creditreform", "dun_bradstreet", "experian"])
GRADE_EDGES = np.array([300, 380, 460, 540, 620, 700, 780, 850])
GRADES = np.array(["C", "CC", "CCC", "B", "BB", "BBB", "A", "AA", "AAA"])


@dataclass
class _Customers:
    """One chunk of customers: attributes and the latent risk process."""

    num: np.ndarray  # 1-based customer number
    created: np.ndarray  # days from start (negative: existed before start)
    z: np.ndarray
    default_day: np.ndarray  # inf if no default inside the horizon
    w0: np.ndarray  # activity window start (days)
    w1: np.ndarray  # activity window end (days)
    inactive_day: np.ndarray
    size: np.ndarray  # index into SIZES
    industry: np.ndarray
    region: np.ndarray
    currency: np.ndarray  # index into CURRENCIES
    agency: np.ndarray

    @property
    def n(self) -> int:
        return len(self.num)

    def stress(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Latent risk plus the pre-default ramp at day t."""
        with np.errstate(invalid="ignore"):
            ramp = np.clip(1.0 - (self.default_day[idx] - t) / RAMP_DAYS, 0.0, 1.0)
        return self.z[idx] + 2.5 * np.nan_to_num(ramp)


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))


def _customers(rng: np.random.Generator, first_num: int, n: int) -> _Customers:
    size = rng.choice(3, n, p=SIZE_P)
    industry = rng.integers(0, len(INDUSTRIES), n)
    region = rng.integers(0, len(REGIONS), n)
    pre_existing = rng.random(n) < 0.85
    created = np.where(pre_existing, -rng.uniform(30, 3650, n), rng.uniform(0, HORIZON_DAYS, n))
    z = rng.standard_normal(n)
    pd_year = _sigmoid(BASE_LOGIT + INDUSTRY_SHIFT[industry] + REGION_SHIFT[region] + SIZE_SHIFT[size] + 1.1 * z)
    years_to_default = rng.exponential(1.0, n) / -np.log1p(-pd_year)
    # new customers act from the day after onboarding, so nothing references an account not yet created
    w0 = np.where(created < 0, 0.0, created + 1.0)
    default_day = w0 + 365.0 * years_to_default
    default_day = np.where(default_day < HORIZON_DAYS, default_day, np.inf)
    inactive_day = np.where(rng.random(n) < 0.03, w0 + rng.uniform(0, HORIZON_DAYS, n), np.inf)
    w1 = np.minimum(np.minimum(default_day + 60.0, inactive_day), HORIZON_DAYS)
    return _Customers(
        num=np.arange(first_num, first_num + n), created=created, z=z, default_day=default_day, w0=w0,
        w1=np.maximum(w1, w0), inactive_day=inactive_day, size=size, industry=industry, region=region,
        currency=rng.choice(4, n, p=CURRENCY_P), agency=rng.integers(0, len(AGENCIES), n),
    )


def _events(rng: np.random.Generator, rate: np.ndarray, w0: np.ndarray, w1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson events per customer in [w0, w1): (customer index, day), sorted by customer then day."""
    dur = np.maximum(w1 - w0, 0.0)
    k = rng.poisson(rate * dur)
    idx = np.repeat(np.arange(len(rate)), k)
    t = w0[idx] + rng.random(idx.size) * dur[idx]
    order = np.lexsort((t, idx))
    return idx[order], t[order]


def _seq(idx: np.ndarray) -> np.ndarray:
    """1-based running number within each run of equal (sorted) idx values."""
    if idx.size == 0:
        return idx
    starts = np.r_[0, np.flatnonzero(np.diff(idx)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, idx.size]))
    return np.arange(idx.size) - first + 1


def _ids(prefix: str, num: np.ndarray, seq: np.ndarray | None = None, width: int = 4) -> np.ndarray:
    out = np.strings.add(prefix, np.strings.zfill(num.astype(str), 7))
    if seq is not None:
        out = np.strings.add(np.strings.add(out, "-"), np.strings.zfill(seq.astype(str), width))
    return out.astype(object)


class _Clock:
    """Converts simulator days (float, from --start) to timestamps and dates."""

    def __init__(self, start: dt.date):
        self.origin = np.datetime64(start, "s")

    def ts(self, days: np.ndarray) -> np.ndarray:
        finite = np.where(np.isfinite(days), days, 0.0)
        out = self.origin + (finite * 86400).astype("int64").astype("timedelta64[s]")
        return np.where(np.isfinite(days), out, np.datetime64("NaT"))

    def date(self, days: np.ndarray) -> np.ndarray:
        return self.ts(np.floor(days)).astype("datetime64[D]")


def _asof(cut: float, created: np.ndarray, *versions: np.ndarray) -> np.ndarray:
    """updated_at as of the cut: the latest version time that has happened (at least created)."""
    out = created.copy()
    for v in versions:
        out = np.where((v <= cut) & (v > out), v, out)
    return out


# --- table generators: each returns (frame over the full horizon, existence/as-of already applied) ---


def _accounts(rng, c: _Customers, clock: _Clock, cut: float, write_off: np.ndarray) -> pd.DataFrame:
    n = c.n
    rename_day = np.where(rng.random(n) < 0.15, c.w0 + rng.uniform(0, HORIZON_DAYS, n), np.inf)
    close_day = write_off + 1.0
    base = np.strings.add(np.strings.add(NAMES_A[rng.integers(0, len(NAMES_A), n)], " "),
                          NAMES_B[rng.integers(0, len(NAMES_B), n)])
    old_suffix = SUFFIXES[rng.integers(0, len(SUFFIXES), n)]
    new_suffix = SUFFIXES[rng.integers(0, len(SUFFIXES), n)]
    suffix = np.where(rename_day <= cut, new_suffix, old_suffix)
    status = np.where(close_day <= cut, "closed", np.where(c.inactive_day <= cut, "inactive", "active"))
    created_ts = c.created
    updated = _asof(cut, created_ts, rename_day, close_day, c.inactive_day)
    frame = pd.DataFrame({
        "account_id": _ids("C", c.num),
        "legal_name": np.strings.add(np.strings.add(base, " "), suffix),
        "tax_id": np.strings.add("TX", np.strings.zfill(rng.integers(0, 10**9, n).astype(str), 9)),
        "industry": INDUSTRIES[c.industry],
        "region": REGIONS[c.region],
        "size_band": SIZES[c.size],
        "status": status,
        "created_at": clock.ts(created_ts),
        "updated_at": clock.ts(updated),
    })
    return frame[created_ts < cut]


def _contacts(rng, c: _Customers, clock: _Clock, cut: float) -> pd.DataFrame:
    k = 1 + rng.poisson(np.array([0.5, 1.0, 2.0])[c.size])
    idx = np.repeat(np.arange(c.n), k)
    m = idx.size
    created = np.maximum(c.created[idx], -3650) + rng.uniform(0, 20, m)
    email_change = np.where(rng.random(m) < 0.2, created + rng.uniform(30, 900, m), np.inf)
    first = FIRST[rng.integers(0, len(FIRST), m)]
    last = LAST[rng.integers(0, len(LAST), m)]
    domain = np.where(email_change <= cut, "mail.example", "example.com")
    email = np.strings.add(np.strings.add(np.strings.add(np.strings.lower(first), "."),
                                          np.strings.lower(last)), np.strings.add("@", domain))
    frame = pd.DataFrame({
        "contact_id": _ids("K", c.num[idx], _seq(idx), 2),
        "account_id": _ids("C", c.num[idx]),
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": np.strings.add("+41 ", rng.integers(10**8, 10**9, m).astype(str)),
        "created_at": clock.ts(created),
        "updated_at": clock.ts(_asof(cut, created, email_change)),
    })
    return frame[created < cut]


def _activities(rng, c: _Customers, clock: _Clock, cut: float) -> pd.DataFrame:
    idx, t = _events(rng, 0.2 / 30 * SIZE_VOLUME[c.size], c.w0, c.w1)
    m = idx.size
    s = c.stress(idx, t)
    u = rng.random(m)
    p_neg = _sigmoid(-2.5 + 0.8 * s)
    outcome = np.where(u < p_neg, "negative", np.where(u < p_neg + 0.15, "no_answer",
                                                        np.where(u < p_neg + 0.55, "positive", "neutral")))
    late = rng.random(m) < 0.1  # logged days after the activity: a late update
    created = t + np.where(late, rng.uniform(1, 7, m), rng.uniform(0.01, 0.2, m))
    frame = pd.DataFrame({
        "activity_id": _ids("A", c.num[idx], _seq(idx)),
        "account_id": _ids("C", c.num[idx]),
        "activity_type": np.array(["call", "meeting", "email"])[rng.choice(3, m, p=[0.5, 0.2, 0.3])],
        "activity_at": clock.ts(t),
        "outcome": outcome,
        "created_at": clock.ts(created),
        "updated_at": clock.ts(created),
    })
    return frame[created < cut]


def _tickets(rng, c: _Customers, clock: _Clock, cut: float) -> pd.DataFrame:
    bound = 0.6 * (np.maximum(c.z, 0) + 2.5 * np.isfinite(c.default_day))
    idx, t = _events(rng, 0.03 / 30 * SIZE_VOLUME[c.size] * np.exp(bound), c.w0, c.w1)
    s = c.stress(idx, t)
    keep = rng.random(idx.size) < np.exp(0.6 * s - bound[idx])  # thinning: rate follows stress over time
    idx, t, s = idx[keep], t[keep], s[keep]
    m = idx.size
    u = rng.random(m)
    p_complaint = _sigmoid(-1.0 + 0.7 * s)
    category = np.where(u < p_complaint, "complaint", np.where(rng.random(m) < 0.6, "question", "incident"))
    severity = np.clip(1 + rng.poisson(0.5 + 0.4 * np.maximum(s, 0)), 1, 4)
    closed = t + rng.exponential(2.0 * severity)
    frame = pd.DataFrame({
        "ticket_id": _ids("T", c.num[idx], _seq(idx)),
        "account_id": _ids("C", c.num[idx]),
        "category": category,
        "severity": severity.astype("int64"),
        "opened_at": clock.ts(t),
        "closed_at": clock.ts(np.where(closed <= cut, closed, np.nan)),
        "created_at": clock.ts(t),
        "updated_at": clock.ts(_asof(cut, t, closed)),
    })
    return frame[t < cut]


def _opportunities(rng, c: _Customers, clock: _Clock, cut: float) -> pd.DataFrame:
    idx, t = _events(rng, 0.1 / 30 * SIZE_VOLUME[c.size], c.w0, c.w1)
    m = idx.size
    s = c.stress(idx, t)
    closed = t + rng.uniform(10, 90, m)
    won = rng.random(m) < _sigmoid(0.3 - 0.6 * s)
    is_closed = closed <= cut
    frame = pd.DataFrame({
        "opportunity_id": _ids("O", c.num[idx], _seq(idx)),
        "account_id": _ids("C", c.num[idx]),
        "amount": np.round(SIZE_AMOUNT[c.size[idx]] * 5 * rng.lognormal(0, 0.7, m), 2),
        "currency": CURRENCIES[c.currency[idx]],
        "stage": np.where(is_closed, np.where(won, "won", "lost"), "open"),
        "created_at": clock.ts(t),
        "closed_at": clock.ts(np.where(is_closed, closed, np.nan)),
        "updated_at": clock.ts(_asof(cut, t, closed)),
    })
    return frame[t < cut]


@dataclass
class _Finance:
    invoices: pd.DataFrame
    payments: pd.DataFrame
    credit_notes: pd.DataFrame
    disputes: pd.DataFrame


def _invoicing(rng, c: _Customers, clock: _Clock, cut: float) -> _Finance:
    """Invoices, their payments, disputes and credit notes: payment behaviour follows stress."""
    idx, t = _events(rng, 0.35 / 30 * SIZE_VOLUME[c.size], c.w0, c.w1)
    m = idx.size
    issue = np.floor(t)
    entry_lag = np.where(rng.random(m) < 0.05, rng.uniform(1, 5, m), 0.0)
    created = issue + rng.uniform(0.3, 0.8, m) + entry_lag
    terms = rng.choice(np.array([30.0, 14.0, 60.0]), m, p=[0.7, 0.15, 0.15])
    due = issue + terms
    amount = np.round(SIZE_AMOUNT[c.size[idx]] * rng.lognormal(0, 0.8, m), 2)
    s = c.stress(idx, due)
    disputed = rng.random(m) < _sigmoid(-4.0 + 0.9 * s)
    late = rng.random(m) < _sigmoid(-1.8 + 1.0 * s)
    delay = np.where(late, rng.exponential(8.0 + 12.0 * np.maximum(s, 0)), -rng.uniform(0, 10, m))
    booked = np.ceil(created)  # a payment never precedes the invoice's entry in the ledger
    pay_day = np.maximum(np.floor(due + delay + 20.0 * disputed), booked)
    stop_paying = c.default_day[idx] - 90.0  # defaulting customers stop paying before the dpd90 event
    cancelled = rng.random(m) < 0.01
    cancel_day = np.where(cancelled, created + rng.uniform(1, 5, m), np.inf)
    paid = ~cancelled & (pay_day < stop_paying)
    partial = paid & (rng.random(m) < 0.1)
    record_lag = np.where(rng.random(m) < 0.15, rng.uniform(1, 6, m), 0.0)  # booked days later
    final_created = np.where(paid, pay_day + rng.uniform(0.3, 0.8, m) + record_lag, np.inf)
    first_day = np.maximum(np.floor(pay_day - rng.uniform(5, 20, m)), booked)
    share = rng.uniform(0.3, 0.8, m)
    invoice_id = _ids("I", c.num[idx], _seq(idx))
    currency = CURRENCIES[c.currency[idx]]
    status = np.where(cancel_day <= cut, "cancelled", np.where(final_created <= cut, "paid", "open"))
    invoices = pd.DataFrame({
        "invoice_id": invoice_id, "customer_id": _ids("C", c.num[idx]),
        "issue_date": clock.date(issue), "due_date": clock.date(due), "amount": amount, "currency": currency,
        "status": status, "created_at": clock.ts(created),
        "updated_at": clock.ts(_asof(cut, created, cancel_day, final_created)),
    })[created < cut]

    # payments: one per paid invoice, two for partial payers (first part earlier)
    p_inv = np.r_[np.flatnonzero(partial), np.flatnonzero(paid)]
    p_first = np.r_[np.ones(partial.sum(), bool), np.zeros(paid.sum(), bool)]
    p_day = np.where(p_first, first_day[p_inv], pay_day[p_inv])
    p_amount = np.where(p_first, np.round(amount[p_inv] * share[p_inv], 2),
                        amount[p_inv] - np.where(partial[p_inv], np.round(amount[p_inv] * share[p_inv], 2), 0))
    p_created = np.where(p_first, p_day + rng.uniform(0.3, 0.8, p_inv.size), final_created[p_inv])
    payments = pd.DataFrame({
        "payment_id": np.strings.add(np.strings.add("P", invoice_id[p_inv].astype(str)),
                                     np.where(p_first, "-1", "-2")).astype(object),
        "invoice_id": invoice_id[p_inv], "payment_date": clock.date(p_day), "amount": np.round(p_amount, 2),
        "currency": currency[p_inv], "created_at": clock.ts(p_created), "updated_at": clock.ts(p_created),
    })[p_created < cut]

    d = np.flatnonzero(disputed)
    d_open = issue[d] + rng.uniform(5, 40, d.size)
    d_resolve = d_open + rng.uniform(10, 60, d.size)
    d_accepted = rng.random(d.size) < 0.6
    d_amount = np.round(amount[d] * rng.uniform(0.1, 1.0, d.size), 2)
    d_done = d_resolve <= cut
    disputes = pd.DataFrame({
        "dispute_id": np.strings.add("D", invoice_id[d].astype(str)).astype(object), "invoice_id": invoice_id[d],
        "customer_id": _ids("C", c.num[idx[d]]), "opened_date": clock.date(d_open),
        "resolved_date": clock.date(np.where(d_done, d_resolve, np.nan)), "amount": d_amount,
        "currency": currency[d],
        "status": np.where(d_done, np.where(d_accepted, "resolved", "rejected"), "open"),
        "created_at": clock.ts(d_open), "updated_at": clock.ts(_asof(cut, d_open, d_resolve)),
    })[d_open < cut]

    # credit notes: accepted disputes are settled by one; a few invoices get price adjustments
    adj = np.flatnonzero(rng.random(m) < 0.015)
    a_day = issue[adj] + rng.uniform(3, 30, adj.size)
    settled = d[d_accepted]
    cn_inv = np.r_[settled, adj]
    cn_day = np.r_[d_resolve[d_accepted], a_day]
    credit_notes = pd.DataFrame({
        "credit_note_id": np.strings.add(np.strings.add("N", invoice_id[cn_inv].astype(str)),
                                         np.r_[np.full(settled.size, "-S"), np.full(adj.size, "-A")]).astype(object),
        "invoice_id": invoice_id[cn_inv], "customer_id": _ids("C", c.num[idx[cn_inv]]),
        "issue_date": clock.date(cn_day),
        "amount": np.r_[d_amount[d_accepted], np.round(amount[adj] * rng.uniform(0.05, 0.3, adj.size), 2)],
        "currency": currency[cn_inv],
        "reason": np.r_[np.full(settled.size, "dispute_settlement"),
                        np.array(["price_adjustment", "return"])[rng.integers(0, 2, adj.size)]],
        "created_at": clock.ts(cn_day), "updated_at": clock.ts(cn_day),
    })[cn_day < cut]
    return _Finance(invoices, payments, credit_notes, disputes)


def _credit_limits(rng, c: _Customers, clock: _Clock, cut: float) -> pd.DataFrame:
    idx, t = _events(rng, np.full(c.n, 1 / 240), c.w0, np.minimum(c.w1 + 30, HORIZON_DAYS))
    s = c.stress(idx, t)
    u = rng.random(idx.size)
    factor = np.where(s > 1.0, 0.5 + 0.3 * u, np.where(s < 0.0, 1.0 + 0.3 * u, 0.9 + 0.2 * u))
    # the initial limit at onboarding, then reviews: the level is a running product of review factors
    all_idx = np.r_[np.arange(c.n), idx]
    all_t = np.r_[c.created + 0.5, t]
    all_f = np.r_[SIZE_AMOUNT[c.size] * 4 * rng.lognormal(0, 0.3, c.n), factor]
    order = np.lexsort((all_t, all_idx))
    all_idx, all_t, all_f = all_idx[order], all_t[order], all_f[order]
    level = np.exp(pd.Series(np.log(all_f)).groupby(all_idx).cumsum().to_numpy())
    created = all_t + np.where(rng.random(all_t.size) < 0.1, rng.uniform(1, 4, all_t.size), 0.0)
    frame = pd.DataFrame({
        "limit_id": _ids("L", c.num[all_idx], _seq(all_idx), 3),
        "customer_id": _ids("C", c.num[all_idx]),
        "credit_limit": np.maximum(np.round(level / 500) * 500, 500.0),
        "currency": CURRENCIES[c.currency[all_idx]],
        "valid_from": clock.date(all_t),
        "approver": APPROVERS[rng.integers(0, len(APPROVERS), all_t.size)],
        "created_at": clock.ts(created),
        "updated_at": clock.ts(created),
    })
    return frame[created < cut]


def _default_events(rng, c: _Customers, clock: _Clock, cut: float) -> tuple[pd.DataFrame, np.ndarray]:
    """dpd90 at the default day, then collections / insolvency / write-off for some; returns write-off days."""
    n = c.n
    dd = c.default_day
    kinds = {
        "dpd90": (np.isfinite(dd), dd),
        "collections": (np.isfinite(dd) & (rng.random(n) < 0.6), dd + rng.uniform(5, 30, n)),
        "insolvency": (np.isfinite(dd) & (rng.random(n) < 0.3), dd + rng.uniform(10, 120, n)),
        "write_off": (np.isfinite(dd) & (rng.random(n) < 0.5), dd + rng.uniform(90, 200, n)),
    }
    parts = []
    for code, (has, day) in kinds.items():
        i = np.flatnonzero(has & (day < HORIZON_DAYS))
        report = np.floor(day[i]) + rng.uniform(0.3, 0.8, i.size) + rng.choice([0, 0, 1, 2, 5], i.size)
        parts.append(pd.DataFrame({
            "event_id": np.strings.add(_ids("E", c.num[i]).astype(str), f"-{code}").astype(object),
            "customer_id": _ids("C", c.num[i]), "event_date": clock.date(day[i]), "event_type": code,
            "created_at": clock.ts(report), "updated_at": clock.ts(report), "_cut": report,
        }))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["_cut"] < cut].drop(columns="_cut")
    write_off = np.where(kinds["write_off"][0], kinds["write_off"][1], np.inf)
    return frame, write_off


def _bureau_ratings(rng, c: _Customers, clock: _Clock, cut: float) -> pd.DataFrame:
    idx, t = _events(rng, np.full(c.n, 1 / 180), c.w0, np.minimum(c.w1 + 120, HORIZON_DAYS))
    s = c.stress(idx, t)
    score = np.clip(np.round(720 - 110 * s + rng.normal(0, 40, idx.size)), 1, 1000)
    defaulted = t >= c.default_day[idx]
    score = np.where(defaulted, np.minimum(score, 150), score).astype("int64")
    rating = np.where(defaulted, "D", GRADES[np.searchsorted(GRADE_EDGES, score, side="right")])
    created = np.floor(t) + rng.uniform(0.3, 0.8, idx.size) + rng.choice([0, 0, 0, 1, 3], idx.size)
    frame = pd.DataFrame({
        "rating_id": _ids("B", c.num[idx], _seq(idx), 3),
        "customer_id": _ids("C", c.num[idx]),
        "agency": AGENCIES[c.agency[idx]],
        "rating": rating,
        "score": score,
        "rating_date": clock.date(t),
        "created_at": clock.ts(created),
        "updated_at": clock.ts(created),
    })
    return frame[created < cut]


# --- dirty rows -------------------------------------------------------------------------------------


def _dirty(rng: np.random.Generator, frame: pd.DataFrame, spec: TableSpec, rate: float) -> pd.DataFrame:
    """Append bad copies of some rows: one of every kind the table's rules can catch.

    Bad rows are extra rows (new ids), so real rows stay loadable and references to them keep working.
    The draws happen for every row whatever the cut, so the same rows are dirty for any --end.
    """
    u = rng.random(len(frame))
    kind_u = rng.random(len(frame))
    if rate <= 0 or frame.empty:
        return frame
    kinds = ["missing_key", "duplicate"]
    if spec.non_negative:
        kinds.append("negative_amount")
    if "currency" in spec.allowed_values:
        kinds.append("unknown_currency")
    if any(target == "crm.accounts" for target in spec.references.values()):
        kinds.append("unknown_customer")
    if spec.not_in_future:
        kinds.append("future_date")
    chosen = np.flatnonzero(u < rate)
    kind = np.array(kinds)[(kind_u[chosen] * len(kinds)).astype(int)]
    pk = spec.primary_key
    extra = []
    for name in kinds:
        rows = frame.iloc[chosen[kind == name]].copy()
        if rows.empty:
            continue
        if name == "duplicate":
            extra.append(rows)  # an exact second copy of the row, same id
            continue
        rows[pk] = "X" + rows[pk].astype(str) + f"-{name}"
        if name == "missing_key":
            rows[pk] = None
        elif name == "negative_amount":
            col = spec.non_negative[0]
            rows[col] = -rows[col].abs() - 1
        elif name == "unknown_currency":
            rows["currency"] = "XXX"
        elif name == "unknown_customer":
            ref_col = next(col for col, target in spec.references.items() if target == "crm.accounts")
            rows[ref_col] = "CX" + rows[ref_col].astype(str).str[1:]
        elif name == "future_date":
            col = spec.not_in_future[0]
            rows[col] = rows[col] + np.timedelta64(3650, "D")  # a decade typo: always after any interval
        extra.append(rows)
    return pd.concat([frame, *extra], ignore_index=True) if extra else frame


# --- writing ----------------------------------------------------------------------------------------


def _source_ddl(source: SourceSpec) -> str:
    """The simulated system's tables. Keys are indexed but not enforced, so duplicates can be injected."""
    parts = [f"create schema if not exists {source.schema};"]
    for spec in source.tables:
        cols = ",\n".join(f"    {col} {typ}" for col, typ in spec.columns.items())
        parts.append(f"create table if not exists {source.schema}.{spec.name} (\n{cols}\n);")
        # indexes are rebuilt after the bulk load: building once is cheaper than updating row by row
        parts.append(f"drop index if exists {source.schema}.{spec.name}_key_idx;")
        parts.append(f"drop index if exists {source.schema}.{spec.name}_wm_idx;")
    return "\n".join(parts)


def _source_indexes(source: SourceSpec) -> str:
    """The key index, and the watermark index that keeps daily extraction reads cheap."""
    parts = []
    for spec in source.tables:
        table = f"{source.schema}.{spec.name}"
        parts.append(f"create index {spec.name}_key_idx on {table} ({spec.primary_key});")
        parts.append(f"create index {spec.name}_wm_idx on {table} ({spec.watermark});")
    return "\n".join(parts)


def _chunk_tables(rng: np.random.Generator, c: _Customers, clock: _Clock, cut: float) -> dict[str, pd.DataFrame]:
    """All tables of one chunk. The call order fixes the random stream: never reorder it."""
    defaults, write_off = _default_events(rng, c, clock, cut)
    fin = _invoicing(rng, c, clock, cut)
    return {
        "accounts": _accounts(rng, c, clock, cut, write_off),
        "contacts": _contacts(rng, c, clock, cut),
        "activities": _activities(rng, c, clock, cut),
        "tickets": _tickets(rng, c, clock, cut),
        "opportunities": _opportunities(rng, c, clock, cut),
        "invoices": fin.invoices,
        "payments": fin.payments,
        "credit_limits": _credit_limits(rng, c, clock, cut),
        "credit_notes": fin.credit_notes,
        "disputes": fin.disputes,
        "default_events": defaults,
        "bureau_ratings": _bureau_ratings(rng, c, clock, cut),
    }


def simulate(
    customers: int,
    start: dt.date | str,
    end: dt.date | str,
    seed: int = 42,
    dirty_rate: float = 0.0,
    crm_url: str | None = None,
    finance_url: str | None = None,
    verbose: bool = True,
) -> dict[str, int]:
    """Write both source systems as of the end of `end`; returns rows written per `source.table`.

    URLs default to the connections crm_source / finance_source. Each database is replaced in one
    transaction, so readers never see a half-written source.
    """
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    cut = float((end - start).days + 1)  # up to the end of the --end day
    if cut > HORIZON_DAYS:
        raise ValueError(f"--end may be at most {HORIZON_DAYS - 1} days after --start (fixed horizon)")
    if not 0 <= dirty_rate < 0.5:
        raise ValueError("--dirty-rate must be in [0, 0.5)")
    sources = load_sources()
    targets = {"crm": crm_url or connection_url(CRM_SOURCE), "finance": finance_url or connection_url(FINANCE_SOURCE)}
    owner = {spec.name: name for name in ("crm", "finance") for spec in sources[name].tables}
    clock = _Clock(start)
    began = time.monotonic()
    counts: dict[str, int] = {}
    conns = {name: connect(url) for name, url in targets.items()}
    try:
        cursors = {}
        for name, conn in conns.items():
            cur = conn.cursor()
            cur.execute("set timezone = 'UTC'")
            cur.execute(_source_ddl(sources[name]))
            tables = ", ".join(f"{sources[name].schema}.{t.name}" for t in sources[name].tables)
            cur.execute(f"truncate {tables}")
            cursors[name] = cur
        for first in range(0, customers, CHUNK_SIZE):
            chunk_no = first // CHUNK_SIZE
            rng = np.random.default_rng([seed, chunk_no])
            cust = _customers(rng, first + 1, min(CHUNK_SIZE, customers - first))
            frames = _chunk_tables(rng, cust, clock, cut)
            dirty_rng = np.random.default_rng([seed, chunk_no, 1])  # separate stream: dirt never shifts data
            for table, frame in frames.items():
                source = sources[owner[table]]
                spec = source.table(table)
                frame = _dirty(dirty_rng, frame, spec, dirty_rate)
                columns = list(spec.columns)
                counts[spec.qualified] = counts.get(spec.qualified, 0) + copy_rows(
                    cursors[source.name], f"{source.schema}.{table}", columns, frame)
            if verbose:
                done = min(first + CHUNK_SIZE, customers)
                print(f"simulate: {done:,}/{customers:,} customers, {sum(counts.values()):,} rows, "
                      f"{time.monotonic() - began:.1f}s", flush=True)
        for name, conn in conns.items():
            cursors[name].execute(_source_indexes(sources[name]))
            conn.commit()
    finally:
        for conn in conns.values():
            conn.close()
    if verbose:
        _summary(counts, time.monotonic() - began)
    return counts


def _summary(counts: dict[str, int], seconds: float) -> None:
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"  {key:<{width}} {value:>12,}")
    print(f"simulate: {sum(counts.values()):,} rows in {seconds:.1f}s", flush=True)


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--start", required=True, help="first day of the simulated history (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, help="last day the sources have reached (YYYY-MM-DD)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dirty-rate", type=float, default=0.0, help="share of rows copied as bad rows")
    args = parser.parse_args(argv)
    simulate(args.customers, args.start, args.end, seed=args.seed, dirty_rate=args.dirty_rate)


if __name__ == "__main__":
    main()
