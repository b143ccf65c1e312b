"""The finance tables of one chunk of customers: invoices, payments, credit notes, disputes, limits, defaults, bureau.

Each generator draws over the whole horizon and returns the rows that exist at the cut, in their
state as of then, so a later cut only adds rows and advances changed ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from devtools.simulator.clock import Clock, asof
from devtools.simulator.customers import (
    AGENCIES,
    CURRENCIES,
    HORIZON_DAYS,
    SIZE_AMOUNT,
    SIZE_VOLUME,
    Customers,
    draw_events,
    ids,
    seq,
    sigmoid,
)

APPROVERS = np.array(["a.keller", "b.rossi", "c.smith", "d.weber", "credit_committee"])
GRADE_EDGES = np.array([300, 380, 460, 540, 620, 700, 780, 850])
GRADES = np.array(["C", "CC", "CCC", "B", "BB", "BBB", "A", "AA", "AAA"])


@dataclass
class Finance:
    """The tables that follow from one draw of invoices."""

    invoices: pd.DataFrame
    payments: pd.DataFrame
    credit_notes: pd.DataFrame
    disputes: pd.DataFrame


def invoicing(rng, c: Customers, clock: Clock, cut: float) -> Finance:
    """Invoices, their payments, disputes and credit notes: payment behaviour follows stress."""
    idx, t = draw_events(rng, 0.35 / 30 * SIZE_VOLUME[c.size], c.w0, c.w1)
    m = idx.size
    issue = np.floor(t)
    entry_lag = np.where(rng.random(m) < 0.05, rng.uniform(1, 5, m), 0.0)
    created = issue + rng.uniform(0.3, 0.8, m) + entry_lag
    terms = rng.choice(np.array([30.0, 14.0, 60.0]), m, p=[0.7, 0.15, 0.15])
    due = issue + terms
    amount = np.round(SIZE_AMOUNT[c.size[idx]] * rng.lognormal(0, 0.8, m), 2)
    s = c.stress(idx, due)
    disputed = rng.random(m) < sigmoid(-4.0 + 0.9 * s)
    late = rng.random(m) < sigmoid(-1.8 + 1.0 * s)
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
    invoice_id = ids("I", c.num[idx], seq(idx))
    currency = CURRENCIES[c.currency[idx]]
    status = np.where(cancel_day <= cut, "cancelled", np.where(final_created <= cut, "paid", "open"))
    invoices = pd.DataFrame(
        {
            "invoice_id": invoice_id,
            "customer_id": ids("C", c.num[idx]),
            "issue_date": clock.date(issue),
            "due_date": clock.date(due),
            "amount": amount,
            "currency": currency,
            "status": status,
            "created_at": clock.ts(created),
            "updated_at": clock.ts(asof(cut, created, cancel_day, final_created)),
        }
    )[created < cut]

    # payments: one per paid invoice, two for partial payers (first part earlier)
    p_inv = np.r_[np.flatnonzero(partial), np.flatnonzero(paid)]
    p_first = np.r_[np.ones(partial.sum(), bool), np.zeros(paid.sum(), bool)]
    p_day = np.where(p_first, first_day[p_inv], pay_day[p_inv])
    p_amount = np.where(
        p_first,
        np.round(amount[p_inv] * share[p_inv], 2),
        amount[p_inv] - np.where(partial[p_inv], np.round(amount[p_inv] * share[p_inv], 2), 0),
    )
    p_created = np.where(p_first, p_day + rng.uniform(0.3, 0.8, p_inv.size), final_created[p_inv])
    payments = pd.DataFrame(
        {
            "payment_id": np.strings.add(
                np.strings.add("P", invoice_id[p_inv].astype(str)), np.where(p_first, "-1", "-2")
            ).astype(object),
            "invoice_id": invoice_id[p_inv],
            "payment_date": clock.date(p_day),
            "amount": np.round(p_amount, 2),
            "currency": currency[p_inv],
            "created_at": clock.ts(p_created),
            "updated_at": clock.ts(p_created),
        }
    )[p_created < cut]

    d = np.flatnonzero(disputed)
    d_open = issue[d] + rng.uniform(5, 40, d.size)
    d_resolve = d_open + rng.uniform(10, 60, d.size)
    d_accepted = rng.random(d.size) < 0.6
    d_amount = np.round(amount[d] * rng.uniform(0.1, 1.0, d.size), 2)
    d_done = d_resolve <= cut
    disputes = pd.DataFrame(
        {
            "dispute_id": np.strings.add("D", invoice_id[d].astype(str)).astype(object),
            "invoice_id": invoice_id[d],
            "customer_id": ids("C", c.num[idx[d]]),
            "opened_date": clock.date(d_open),
            "resolved_date": clock.date(np.where(d_done, d_resolve, np.nan)),
            "amount": d_amount,
            "currency": currency[d],
            "status": np.where(d_done, np.where(d_accepted, "resolved", "rejected"), "open"),
            "created_at": clock.ts(d_open),
            "updated_at": clock.ts(asof(cut, d_open, d_resolve)),
        }
    )[d_open < cut]

    # credit notes: accepted disputes are settled by one; a few invoices get price adjustments
    adj = np.flatnonzero(rng.random(m) < 0.015)
    a_day = issue[adj] + rng.uniform(3, 30, adj.size)
    settled = d[d_accepted]
    cn_inv = np.r_[settled, adj]
    cn_day = np.r_[d_resolve[d_accepted], a_day]
    credit_notes = pd.DataFrame(
        {
            "credit_note_id": np.strings.add(
                np.strings.add("N", invoice_id[cn_inv].astype(str)),
                np.r_[np.full(settled.size, "-S"), np.full(adj.size, "-A")],
            ).astype(object),
            "invoice_id": invoice_id[cn_inv],
            "customer_id": ids("C", c.num[idx[cn_inv]]),
            "issue_date": clock.date(cn_day),
            "amount": np.r_[
                d_amount[d_accepted], np.round(amount[adj] * rng.uniform(0.05, 0.3, adj.size), 2)
            ],
            "currency": currency[cn_inv],
            "reason": np.r_[
                np.full(settled.size, "dispute_settlement"),
                np.array(["price_adjustment", "return"])[rng.integers(0, 2, adj.size)],
            ],
            "created_at": clock.ts(cn_day),
            "updated_at": clock.ts(cn_day),
        }
    )[cn_day < cut]
    return Finance(invoices, payments, credit_notes, disputes)


def credit_limits(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    idx, t = draw_events(rng, np.full(c.n, 1 / 240), c.w0, np.minimum(c.w1 + 30, HORIZON_DAYS))
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
    frame = pd.DataFrame(
        {
            "limit_id": ids("L", c.num[all_idx], seq(all_idx), 3),
            "customer_id": ids("C", c.num[all_idx]),
            "credit_limit": np.maximum(np.round(level / 500) * 500, 500.0),
            "currency": CURRENCIES[c.currency[all_idx]],
            "valid_from": clock.date(all_t),
            "approver": APPROVERS[rng.integers(0, len(APPROVERS), all_t.size)],
            "created_at": clock.ts(created),
            "updated_at": clock.ts(created),
        }
    )
    return frame[created < cut]


def default_events(rng, c: Customers, clock: Clock, cut: float) -> tuple[pd.DataFrame, np.ndarray]:
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
        parts.append(
            pd.DataFrame(
                {
                    "event_id": np.strings.add(ids("E", c.num[i]).astype(str), f"-{code}").astype(object),
                    "customer_id": ids("C", c.num[i]),
                    "event_date": clock.date(day[i]),
                    "event_type": code,
                    "created_at": clock.ts(report),
                    "updated_at": clock.ts(report),
                    "_cut": report,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["_cut"] < cut].drop(columns="_cut")
    write_off = np.where(kinds["write_off"][0], kinds["write_off"][1], np.inf)
    return frame, write_off


def bureau_ratings(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    idx, t = draw_events(rng, np.full(c.n, 1 / 180), c.w0, np.minimum(c.w1 + 120, HORIZON_DAYS))
    s = c.stress(idx, t)
    score = np.clip(np.round(720 - 110 * s + rng.normal(0, 40, idx.size)), 1, 1000)
    defaulted = t >= c.default_day[idx]
    score = np.where(defaulted, np.minimum(score, 150), score).astype("int64")
    rating = np.where(defaulted, "D", GRADES[np.searchsorted(GRADE_EDGES, score, side="right")])
    created = np.floor(t) + rng.uniform(0.3, 0.8, idx.size) + rng.choice([0, 0, 0, 1, 3], idx.size)
    frame = pd.DataFrame(
        {
            "rating_id": ids("B", c.num[idx], seq(idx), 3),
            "customer_id": ids("C", c.num[idx]),
            "agency": AGENCIES[c.agency[idx]],
            "rating": rating,
            "score": score,
            "rating_date": clock.date(t),
            "created_at": clock.ts(created),
            "updated_at": clock.ts(created),
        }
    )
    return frame[created < cut]
