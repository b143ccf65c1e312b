"""Import the dashboard bundle into Superset, replacing what an earlier import made (run by Superset's Python).

`superset import-dashboards` keeps existing charts, datasets and databases as they are; the assets import
(Superset's ImportAssetsCommand, the one behind /api/v1/assets/import/) overwrites every object of the
bundle by its uuid, so the repository stays the source of truth. Objects not in the bundle are left alone.

    .venv-bi/bin/python bi/superset/import_assets.py BUNDLE.zip [USERNAME]
"""

import sys
from zipfile import ZipFile


def main() -> None:
    bundle, username = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "admin")
    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle

        g.user = security_manager.find_user(username=username)
        if g.user is None:
            sys.exit(f"no Superset user {username!r}: create the admin first")
        with ZipFile(bundle) as zf:
            contents = get_contents_from_bundle(zf)
        ImportAssetsCommand(contents).run()
        print(f"imported {len(contents)} files from {bundle}")


if __name__ == "__main__":
    main()
