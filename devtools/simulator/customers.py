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


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """The logistic function: a logit as a probability."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))


def draw_customers(rng: np.random.Generator, first_num: int, n: int) -> Customers:
    """n customers numbered from first_num: attributes, latent risk, default and inactivity days."""
    size = rng.choice(3, n, p=SIZE_P)
    industry = rng.integers(0, len(INDUSTRIES), n)
    region = rng.integers(0, len(REGIONS), n)
    pre_existing = rng.random(n) < 0.85
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
    inactive_day = np.where(rng.random(n) < 0.03, w0 + rng.uniform(0, HORIZON_DAYS, n), np.inf)
    w1 = np.minimum(np.minimum(default_day + 60.0, inactive_day), HORIZON_DAYS)
    return Customers(
        num=np.arange(first_num, first_num + n),
        created=created,
        z=z,
        default_day=default_day,
        w0=w0,
        w1=np.maximum(w1, w0),
        inactive_day=inactive_day,
        size=size,
        industry=industry,
        region=region,
        currency=rng.choice(4, n, p=CURRENCY_P),
        agency=rng.integers(0, len(AGENCIES), n),
    )


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
