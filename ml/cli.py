"""Model-owner CLI: python -m ml.cli models list | compare A B | promote VERSION --reason TEXT | rollback
| shadow (champion vs the shadow-scored challenger on live data, once labels mature).

Every alias move records who (CRM_RISK_USER or the login name), when and why as version tags.
"""

from __future__ import annotations

import argparse
import json
import sys

from ml import registry

METRICS = ("auc", "gini", "ks", "brier", "mean_pd", "default_rate", "calibration_ratio", "rows")


def _versions() -> list:
    from mlflow import MlflowClient

    from ml.tracking import configure_mlflow, model_name

    configure_mlflow()
    client = MlflowClient()
    found = client.search_model_versions(f"name='{model_name()}'")
    # search results do not carry aliases: fetch each version
    return [
        client.get_model_version(model_name(), v.version) for v in sorted(found, key=lambda v: int(v.version))
    ]


def cmd_list(_: argparse.Namespace) -> int:
    rows = []
    for v in _versions():
        t = v.tags
        rows.append(
            [
                v.version,
                ",".join(v.aliases) or "-",
                t.get("candidate", "?"),
                t.get("holdout_auc", "?")[:6],
                t.get("psi", "?")[:6],
                t.get("holdout_window", "?"),
                t.get("minimum_bars", "?")[:6],
                t.get("gate_result", "-"),
            ]
        )
    if not rows:
        print("no versions registered")
        return 0
    header = ["version", "aliases", "candidate", "auc", "psi", "holdout", "bars", "gate"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    a, b = str(args.a), str(args.b)
    on = str(args.holdout_of or max(a, b, key=int))
    holdout = registry.holdout_of(on)
    ma, mb = registry.metrics_on(a, holdout), registry.metrics_on(b, holdout)
    window = registry.version_tags(on).get("holdout_window", "?")
    print(f"holdout of version {on} ({window}, {len(holdout)} rows)")
    print(f"{'metric':<20}{'v' + a:>12}{'v' + b:>12}{'b - a':>12}")
    for k in METRICS:
        fmt = ">12.0f" if k == "rows" else ">12.4f"
        print(f"{k:<20}{ma[k]:{fmt}}{mb[k]:{fmt}}{mb[k] - ma[k]:{fmt}}")
    if args.json:
        print(json.dumps({"holdout_of": on, a: ma, b: mb}))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    try:
        result = registry.promote(str(args.version), args.reason, force=args.force)
    except registry.PromotionRefused as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 2
    print(result.message() + f"; version {args.version} is now @champion")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    try:
        demoted, restored = registry.rollback(args.reason)
    except RuntimeError as exc:
        print(f"cannot roll back: {exc}", file=sys.stderr)
        return 2
    print(f"@champion rolled back from version {demoted} to version {restored}")
    return 0


def cmd_shadow(args: argparse.Namespace) -> int:
    from datetime import date

    from ml.champion_challenger import format_table, paired_rows, pending, side_by_side
    from ml.tracking import model_name

    since = date.fromisoformat(args.since) if args.since else None
    until = date.fromisoformat(args.until) if args.until else None
    pairs = side_by_side(paired_rows(model_name(), since, until))
    print(format_table(pairs, pending(model_name())))
    if args.json:
        print(json.dumps(pairs, default=str))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml.cli", description=__doc__)
    sub = p.add_subparsers(dest="group", required=True)
    models = sub.add_parser("models", help="versions of the credit PD model").add_subparsers(
        dest="cmd", required=True
    )
    models.add_parser("list", help="versions with aliases, metrics and gate results").set_defaults(
        fn=cmd_list
    )
    c = models.add_parser("compare", help="two versions side by side on the same holdout")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--holdout-of", help="version whose holdout to use (default: the newer one)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=cmd_compare)
    pr = models.add_parser("promote", help="gate a version and make it @champion")
    pr.add_argument("version")
    pr.add_argument("--reason", required=True)
    pr.add_argument("--force", action="store_true", help="promote despite a gate refusal (recorded)")
    pr.set_defaults(fn=cmd_promote)
    rb = models.add_parser("rollback", help="restore the previous @champion")
    rb.add_argument("--reason", default="rollback by model owner")
    rb.set_defaults(fn=cmd_rollback)
    sh = models.add_parser(
        "shadow", help="realised performance of @champion and the shadow-scored @challenger, side by side"
    )
    sh.add_argument("--since", help="first rated date (YYYY-MM-DD) to include")
    sh.add_argument("--until", help="last rated date (YYYY-MM-DD) to include")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(fn=cmd_shadow)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    raise SystemExit(main())
