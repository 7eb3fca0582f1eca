"""``jeroboam-manage``: database, configuration and policy administration."""

from __future__ import annotations

import argparse
import sys

from jeroboam.cmd.common import add_config_argument, settings_from
from jeroboam.cmd.sample import config_sample
from jeroboam.db import migrate
from jeroboam.db.session import make_engine
from jeroboam.policy import sample as policy_sample


def db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args.config)
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine, args.revision)
        print(f"database at revision {migrate.current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def db_version(args: argparse.Namespace) -> int:
    settings = settings_from(args.config)
    engine = make_engine(settings.database_url)
    try:
        print(f"current {migrate.current_revision(engine)}, head {migrate.head_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-manage", description="Jeroboam administration")
    groups = parser.add_subparsers(dest="group", required=True)

    db = groups.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    upgrade = db.add_parser("upgrade", help="migrate the schema to the newest (or a given) revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    add_config_argument(upgrade)
    upgrade.set_defaults(func=db_upgrade)
    version = db.add_parser("version", help="show the schema revision")
    add_config_argument(version)
    version.set_defaults(func=db_version)

    config = groups.add_parser("config", help="configuration").add_subparsers(dest="action", required=True)
    config.add_parser("sample", help="print every option with its default and help").set_defaults(
        func=lambda _args: print(config_sample()) or 0
    )

    policy = groups.add_parser("policy", help="authorization rules").add_subparsers(dest="action", required=True)
    policy.add_parser("sample", help="print every rule with its default").set_defaults(
        func=lambda _args: print(policy_sample()) or 0
    )

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
