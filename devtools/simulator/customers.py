"""The simulated customers: attributes, the latent risk process, event draws and row keys."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HORIZON_DAYS = 3 * 366  # draws cover this many days from --start, whatever --end is
CURRENCIES = np.array(["EUR", "USD", "GBP", "CHF"])
CURRENCY_P = [0.80, 0.10, 0.06, 0.04]
INDUSTRIES = np.array(
    [
        "retail",
        "construction",
        "manufacturing",
        "logistics",
        "hospitality",
        "it_services",
        "healthcare",
        "wholesale",
    ]
)
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
INVOICES_PER_MONTH = (
    0.35  # of a small customer, times SIZE_VOLUME; amounts are SIZE_AMOUNT x lognormal(0, 0.8)
)
AMOUNT_SIGMA = 0.5
# payment terms agreed per customer (net 30 / 60 / 90 days); larger customers negotiate longer terms
TERMS_DAYS = np.array([30.0, 60.0, 90.0])
TERMS_P = np.array([[0.70, 0.25, 0.05], [0.55, 0.35, 0.10], [0.40, 0.40, 0.20]])  # rows: SIZES
NEW_CUSTOMER_SHARE = 0.22  # customers onboarded during the horizon (about 7 % of the book a year)
LEAVE_RATE = 0.06  # yearly hazard of a customer who stops trading (its account turns inactive)
# invoicing by calendar month (mean 1): a dip in August and at the turn of the year, a peak in autumn
SEASON = np.array([0.85, 0.95, 1.05, 1.0, 1.05, 1.0, 0.95, 0.8, 1.1, 1.15, 1.15, 0.95])


@dataclass(frozen=True)
class Lifecycle:
    """The arrears lifecycle, in days past due (dpd) of a customer's oldest unpaid invoice.

    A late payer is reminded (dunning) at each of `dunning_dpd` and most pay after a reminder; one
    still unpaid at the last is handed to collections. A defaulting customer stops paying: the dpd90
    default event, then the credit team blocks the account (credit stop, limit 0) at `block_after_dpd`
    and writes the receivables off at `write_off_after_dpd`, when the account is closed. Blocked and
    closed accounts are no longer live customers.
    """

    dunning_dpd: tuple[float, ...] = (7.0, 21.0, 45.0)
    default_dpd: float = 90.0
    block_after_dpd: float = 120.0
    write_off_after_dpd: float = 180.0

    def __post_init__(self) -> None:
        if not self.default_dpd <= self.block_after_dpd <= self.write_off_after_dpd:
            raise ValueError("the lifecycle needs default_dpd <= block_after_dpd <= write_off_after_dpd")


AGENCIES = np.array(["creditreform", "dun_bradstreet", "experian"])  # the bureau that rates a customer


@dataclass
class Customers:
    """One chunk of customers: attributes and the latent risk process."""

    num: np.ndarray  # 1-based customer number
    created: np.ndarray  # days from start (negative: existed before start)
    z: np.ndarray
    default_day: np.ndarray  # inf if no default inside the horizon
    w0: np.ndarray  # activity window start (days)
    w1: np.ndarray  # activity window end (days)
    inactive_day: np.ndarray  # stops trading (leaves); inf if not inside the horizon
    block_day: np.ndarray  # credit stop after a default; inf if none
    write_off_day: np.ndarray  # write-off, account closed; inf if none
    terms: np.ndarray  # payment terms in days
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


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """The logistic function: a logit as a probability."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))


def draw_customers(
    rng: np.random.Generator, first_num: int, n: int, lifecycle: Lifecycle | None = None
) -> Customers:
    """n customers numbered from first_num: attributes, latent risk, default, block and leaving days."""
    lifecycle = lifecycle or Lifecycle()
    size = rng.choice(3, n, p=SIZE_P)
    industry = rng.integers(0, len(INDUSTRIES), n)
    region = rng.integers(0, len(REGIONS), n)
    pre_existing = rng.random(n) >= NEW_CUSTOMER_SHARE
    created = np.where(pre_existing, -rng.uniform(30, 3650, n), rng.uniform(0, HORIZON_DAYS, n))
    z = rng.standard_normal(n)
    pd_year = sigmoid(
        BASE_LOGIT + INDUSTRY_SHIFT[industry] + REGION_SHIFT[region] + SIZE_SHIFT[size] + 1.1 * z
    )
    years_to_default = rng.exponential(1.0, n) / -np.log1p(-pd_year)
    # new customers act from the day after onboarding, so nothing references an account not yet created
    w0 = np.where(created < 0, 0.0, created + 1.0)
    default_day = w0 + 365.0 * years_to_default
    default_day = np.where(default_day < HORIZON_DAYS, default_day, np.inf)
    inactive_day = w0 + 365.0 * rng.exponential(1.0 / LEAVE_RATE, n)
    inactive_day = np.where(inactive_day < np.minimum(default_day, HORIZON_DAYS), inactive_day, np.inf)
    default_day = np.where(np.isfinite(inactive_day), np.inf, default_day)  # left, paid up: no default
    block_day = default_day + (lifecycle.block_after_dpd - lifecycle.default_dpd)
    write_off_day = default_day + (lifecycle.write_off_after_dpd - lifecycle.default_dpd)
    # a blocked customer gets no new invoices (credit stop) and the CRM stops working the account
    w1 = np.minimum(np.minimum(block_day, inactive_day), HORIZON_DAYS)
    u = rng.random(n)
    terms = TERMS_DAYS[(u[:, None] > np.cumsum(TERMS_P[size], axis=1)[:, :-1]).sum(axis=1)]
    return Customers(
        num=np.arange(first_num, first_num + n),
        created=created,
        z=z,
        default_day=default_day,
        w0=w0,
        w1=np.maximum(w1, w0),
        inactive_day=inactive_day,
        block_day=block_day,
        write_off_day=write_off_day,
        terms=terms,
        size=size,
        industry=industry,
        region=region,
        currency=rng.choice(4, n, p=CURRENCY_P),
        agency=rng.integers(0, len(AGENCIES), n),
    )


def expected_monthly_sales(size: np.ndarray) -> np.ndarray:
    """What a customer of each size invoices in an average month (the mean of the draws), EUR."""
    return SIZE_AMOUNT[size] * INVOICES_PER_MONTH * SIZE_VOLUME[size] * np.exp(AMOUNT_SIGMA**2 / 2)


def draw_events(
    rng: np.random.Generator, rate: np.ndarray, w0: np.ndarray, w1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson events per customer in [w0, w1): (customer index, day), sorted by customer then day."""
    dur = np.maximum(w1 - w0, 0.0)
    k = rng.poisson(rate * dur)
    idx = np.repeat(np.arange(len(rate)), k)
    t = w0[idx] + rng.random(idx.size) * dur[idx]
    order = np.lexsort((t, idx))
    return idx[order], t[order]


def draw_regular_events(
    rng: np.random.Generator, rate: np.ndarray, w0: np.ndarray, w1: np.ndarray, shape: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    """Events at a steadier pace than Poisson: gamma(shape) gaps of mean 1/rate, as a customer who
    reorders about monthly does. Same return as draw_events; the first event falls in the first gap."""
    dur = np.maximum(w1 - w0, 0.0)
    rate = np.broadcast_to(rate, dur.shape)
    k = np.where(dur > 0, np.ceil(rate * dur * 1.5 + 4 * np.sqrt(rate * dur) + 2), 0).astype(np.int64)
    idx = np.repeat(np.arange(len(dur)), k)
    gaps = rng.gamma(shape, 1.0 / (shape * rate[idx]))
    first = np.r_[0, np.cumsum(k)[:-1]][k > 0]
    gaps[first] = rng.random(first.size) / rate[idx[first]]
    cum = np.cumsum(gaps)
    offset = np.repeat(cum[first] - gaps[first], k[k > 0])
    t = w0[idx] + cum - offset
    keep = t < w1[idx]
    return idx[keep], t[keep]


def seq(idx: np.ndarray) -> np.ndarray:
    """1-based running number within each run of equal (sorted) idx values."""
    if idx.size == 0:
        return idx
    starts = np.r_[0, np.flatnonzero(np.diff(idx)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, idx.size]))
    return np.arange(idx.size) - first + 1


def ids(prefix: str, num: np.ndarray, running: np.ndarray | None = None, width: int = 4) -> np.ndarray:
    """Row keys from customer numbers: prefix + 7 digits, then "-" + the running number if given."""
    out = np.strings.add(prefix, np.strings.zfill(num.astype(str), 7))
    if running is not None:
        out = np.strings.add(np.strings.add(out, "-"), np.strings.zfill(running.astype(str), width))
    return out.astype(object)
