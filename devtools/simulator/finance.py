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
    AMOUNT_SIGMA,
    CURRENCIES,
    HORIZON_DAYS,
    INVOICES_PER_MONTH,
    SEASON,
    SIZE_AMOUNT,
    SIZE_VOLUME,
    Customers,
    Lifecycle,
    draw_events,
    draw_regular_events,
    expected_monthly_sales,
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
    sales: tuple[np.ndarray, np.ndarray, np.ndarray]  # every invoice drawn: customer index, issue day, amount


def invoicing(rng, c: Customers, clock: Clock, cut: float, lifecycle: Lifecycle) -> Finance:
    """Invoices, their payments, disputes and credit notes: payment behaviour follows stress.

    Invoicing follows the season (SEASON by calendar month) and stops at the default (order stop);
    each invoice is due after the customer's payment terms. A late payer pays a few days late, or
    after one of the dunning reminders, or once collections chase it: the more stress, the more
    reminders it takes.
    """
    rate = INVOICES_PER_MONTH / 30 * SIZE_VOLUME[c.size] * SEASON.max()
    idx, t = draw_regular_events(rng, rate, c.w0, np.maximum(np.minimum(c.w1, c.default_day), c.w0))
    keep = rng.random(idx.size) < SEASON[clock.month(t)] / SEASON.max()  # thinning: the seasonal rate
    idx, t = idx[keep], t[keep]
    m = idx.size
    issue = np.floor(t)
    entry_lag = np.where(rng.random(m) < 0.05, rng.uniform(1, 5, m), 0.0)
    created = issue + rng.uniform(0.3, 0.8, m) + entry_lag
    due = issue + c.terms[idx]
    amount = np.round(SIZE_AMOUNT[c.size[idx]] * rng.lognormal(0, AMOUNT_SIGMA, m), 2)
    s = c.stress(idx, due)
    disputed = rng.random(m) < sigmoid(-4.0 + 0.9 * s)
    late = rng.random(m) < sigmoid(-1.8 + 1.0 * s)
    reminders = rng.binomial(len(lifecycle.dunning_dpd), sigmoid(-1.0 + 0.8 * s))
    dunning = np.r_[0.0, lifecycle.dunning_dpd]
    after = np.where(reminders == 0, rng.uniform(1, dunning[1], m), rng.exponential(3.0 + 2.0 * reminders))
    delay = np.where(late, dunning[reminders] + after, -rng.uniform(0, 10, m))
    booked = np.ceil(created)  # a payment never precedes the invoice's entry in the ledger
    pay_day = np.maximum(np.floor(due + delay + 20.0 * disputed), booked)
    stop_paying = c.default_day[idx] - lifecycle.default_dpd  # defaulters stop paying before the dpd90 event
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
    # The ledger books an invoice as a document that does not change after entry, except for a
    # cancellation: payments and credit notes settle it. So every state of an open item stays
    # visible to a warehouse that loads the ledger later (a status overwritten by "paid" would hide
    # that the invoice was ever open).
    status = np.where(cancel_day <= cut, "cancelled", "open")
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
            "updated_at": clock.ts(asof(cut, created, cancel_day)),
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
    return Finance(invoices, payments, credit_notes, disputes, (idx, issue, amount))


# The simulated credit team's limit: monthly sales x (the payment terms in months + a headroom by size,
# scaled by its view of the customer's risk); docs/ingestion.md lists the calibration.
TEAM_BUFFER_MONTHS = np.array([3.0, 2.0, 1.5])  # by SIZES: small customers order rarely, in lumps
TEAM_RISK_FACTOR = np.array([1.0, 0.75, 0.5])  # of the headroom: low / medium / high risk in the team's view
TEAM_RISK_EDGES = np.array([-0.5, 0.8])  # the team's risk view (latent risk + noise) -> low / medium / high
REVIEW_DAYS = 365.0  # a yearly review on average: the limit follows the last 12 months' sales
MIN_REVIEW_HISTORY = 180.0  # days of sales a review needs; before that the onboarding limit stands


def trailing_sales(
    sales: tuple[np.ndarray, np.ndarray, np.ndarray], idx: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Amount invoiced to customer idx in (t - 365, t], from the drawn invoices (sorted by customer, day)."""
    inv_idx, inv_day, amount = sales
    span = 10_000.0  # more days than the horizon plus a year: keys of two customers never overlap
    keys = inv_idx * span + inv_day
    cum = np.r_[0.0, np.cumsum(amount)]
    hi = np.searchsorted(keys, idx * span + t, side="right")
    lo = np.searchsorted(keys, idx * span + t - 365.0, side="right")
    return cum[hi] - cum[lo]


def team_months(c: Customers, risk_view: np.ndarray) -> np.ndarray:
    """Months of sales the credit team grants each customer: terms + buffer, scaled by risk."""
    band = np.searchsorted(TEAM_RISK_EDGES, risk_view)
    return c.terms / 30.0 + TEAM_BUFFER_MONTHS[c.size] * TEAM_RISK_FACTOR[band]


def credit_limits(
    rng, c: Customers, clock: Clock, cut: float, sales: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> pd.DataFrame:
    """The credit team's limits: at onboarding, at reviews (about yearly), and 0 at a credit stop.

    Onboarding: expected monthly sales (with the team's estimation error) x team_months. A review
    sets team_months x the average monthly sales of the last 12 months (of the months traded when
    fewer); a stressed customer's limit is cut at its review. A blocked account's limit is set to 0.
    """
    months = team_months(c, c.z + rng.normal(0, 0.5, c.n))
    onboarding = expected_monthly_sales(c.size) * months * rng.lognormal(0, 0.3, c.n)
    idx, t = draw_events(rng, np.full(c.n, 1 / REVIEW_DAYS), c.w0, np.maximum(c.w1, c.w0))
    traded = np.minimum(t - c.w0[idx], 365.0)
    monthly = trailing_sales(sales, idx, t) / np.maximum(traded, 1.0) * 30.44
    deteriorating = c.stress(idx, t) - c.z[idx] > 1.0  # well into the run-up to a default
    cut_factor = np.where(deteriorating, 0.5 + 0.3 * rng.random(idx.size), 1.0)
    enough = (traded >= MIN_REVIEW_HISTORY) & (monthly > 0)  # else the review keeps the limit
    reviewed = np.where(enough, months[idx] * monthly * cut_factor, np.nan)
    blocked = np.flatnonzero(np.isfinite(c.block_day))
    all_idx = np.r_[np.arange(c.n), idx, blocked]
    all_t = np.r_[c.created + 0.5, t, c.block_day[blocked]]
    level = np.r_[onboarding, reviewed, np.zeros(blocked.size)]
    order = np.lexsort((all_t, all_idx))
    all_idx, all_t, level = all_idx[order], all_t[order], level[order]
    level = pd.Series(level).groupby(all_idx).ffill().to_numpy()  # a review without history keeps the limit
    created = all_t + np.where(rng.random(all_t.size) < 0.1, rng.uniform(1, 4, all_t.size), 0.0)
    rounded = np.round(level / 500) * 500
    frame = pd.DataFrame(
        {
            "limit_id": ids("L", c.num[all_idx], seq(all_idx), 3),
            "customer_id": ids("C", c.num[all_idx]),
            "credit_limit": np.where(level > 0, np.maximum(rounded, 500.0), 0.0),
            "currency": CURRENCIES[c.currency[all_idx]],
            "valid_from": clock.date(all_t),
            "approver": APPROVERS[rng.integers(0, len(APPROVERS), all_t.size)],
            "created_at": clock.ts(created),
            "updated_at": clock.ts(created),
        }
    )
    return frame[created < cut]


def default_events(rng, c: Customers, clock: Clock, cut: float) -> pd.DataFrame:
    """The arrears lifecycle of a defaulter: dpd90 at the default day, handed to collections within
    days, insolvency for some, and the write-off (Lifecycle.write_off_after_dpd) for every one."""
    n = c.n
    dd = c.default_day
    kinds = {
        "dpd90": (np.isfinite(dd), dd),
        "collections": (np.isfinite(dd), dd + rng.uniform(0, 10, n)),
        "insolvency": (np.isfinite(dd) & (rng.random(n) < 0.3), dd + rng.uniform(10, 120, n)),
        "write_off": (np.isfinite(c.write_off_day), c.write_off_day),
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
    return frame[frame["_cut"] < cut].drop(columns="_cut")


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
