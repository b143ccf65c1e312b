"""The desk's commands: serve, issue/revoke tokens, refresh the exposure snapshot, sync the queue, print OpenAPI.

python -m desk serve [--host 127.0.0.1] [--port 8090]
python -m desk token create --user alice --role credit_analyst   # prints the token once
python -m desk token revoke --user alice
python -m desk refresh-exposure     # as a role that reads marts (the warehouse connection)
python -m desk sync                 # open cases for the latest ratings' review/hold and critical warnings
python -m desk managers --file managers.csv   # account managers from a CRM export (account_id,manager)
python -m desk openapi > docs/desk-openapi.json
"""

from __future__ import annotations

import argparse
import json
import sys

from common.warehouse import WAREHOUSE, transaction
from desk.auth import ROLES, Principal, issue_token, revoke_tokens
from desk.db import desk_url
from desk.queries import queries


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from desk.app import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, workers=1, access_log=args.access_log)


def _token(args: argparse.Namespace) -> None:
    with transaction(desk_url()) as cur:
        if args.action == "create":
            if not args.role:
                sys.exit(f"--role is required: one of {', '.join(ROLES)}")
            issued = issue_token(cur, args.user, args.role)
            print(issued)
            print(f"token for {args.user} ({args.role}) created; it is shown only now", file=sys.stderr)
        else:
            print(f"revoked {revoke_tokens(cur, args.user)} token(s) of {args.user}", file=sys.stderr)


def _refresh(_: argparse.Namespace) -> None:
    with transaction(WAREHOUSE) as cur:
        cur.execute(queries("exposure")["refresh_from_mart"])
        print(f"exposure snapshot: {cur.rowcount} customer(s) refreshed")


def _sync(_: argparse.Namespace) -> None:
    from desk.service import sync_cases
    from desk.settings import DeskConfig

    with transaction(desk_url()) as cur:
        print(sync_cases(cur, DeskConfig.load(), Principal(user="desk-sync", role="credit_manager")))


def _managers(args: argparse.Namespace) -> None:
    from desk.service import load_managers, read_managers

    try:
        with open(args.file, newline="", encoding="utf-8") as fh:
            managers = read_managers(fh, args.file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        sys.exit(str(exc))
    with transaction(desk_url()) as cur:
        changed = load_managers(cur, managers, Principal(user=args.user, role="credit_manager"), args.file)
    print(
        f"account managers: {len(managers)} row(s) read, {changed} assignment(s) added or changed",
        file=sys.stderr,
    )


def _after_publish(_: argparse.Namespace) -> None:
    from desk.service import after_publish
    from desk.settings import DeskConfig

    with transaction(WAREHOUSE) as cur:
        print(json.dumps(after_publish(cur, DeskConfig.load())))


def _role_password(_: argparse.Namespace) -> None:
    """Set desk_service's password from DESK_DB_PASSWORD, as the warehouse connection (the owner)."""
    import os

    from psycopg2 import sql

    new_secret = os.environ.get("DESK_DB_PASSWORD")
    if not new_secret:
        sys.exit("DESK_DB_PASSWORD is not set")
    with transaction(WAREHOUSE) as cur:
        cur.execute(sql.SQL("alter role desk_service password {}").format(sql.Literal(new_secret)))
    print("desk_service password set", file=sys.stderr)


def _openapi(_: argparse.Namespace) -> None:
    from desk.app import create_app

    print(json.dumps(create_app(url="postgresql://unused/none").openapi(), indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m desk", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(run=_serve)
    tokens = sub.add_parser("token", help="issue or revoke API tokens")
    tokens.add_argument("action", choices=["create", "revoke"])
    tokens.add_argument("--user", required=True)
    tokens.add_argument("--role", choices=ROLES)
    tokens.set_defaults(run=_token)
    sub.add_parser(
        "refresh-exposure", help="refresh desk.customer_exposure from the feature mart"
    ).set_defaults(run=_refresh)
    sub.add_parser("sync", help="open cases for the latest ratings").set_defaults(run=_sync)
    managers = sub.add_parser("managers", help="load account managers (case owners) from a CRM export CSV")
    managers.add_argument("--file", required=True, help="CSV with the columns account_id,manager")
    managers.add_argument("--user", default="crm-sync", help="who loads it (the audit trail's actor)")
    managers.set_defaults(run=_managers)
    sub.add_parser(
        "after-publish", help="refresh-exposure, then sync, in one transaction (what the daily DAG runs)"
    ).set_defaults(run=_after_publish)
    sub.add_parser("role-password", help="set desk_service's password from DESK_DB_PASSWORD").set_defaults(
        run=_role_password
    )
    sub.add_parser("openapi", help="print the OpenAPI document").set_defaults(run=_openapi)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
