"""``jeroboam-manage``: database, configuration and policy administration."""

from __future__ import annotations

import argparse
import sys

import docker
import docker.errors
import requests

from jeroboam.cmd.arguments import add_config_argument
from jeroboam.cmd.configuration import fail, settings_from
from jeroboam.cmd.sample import config_sample
from jeroboam.db import migrate
from jeroboam.db.session import Database, make_engine
from jeroboam.drivers.docker.image import (
    FRONT_IMAGE_REPOSITORY,
    ImageBuildError,
    node_image,
    prune_node_images,
    workload_image,
)
from jeroboam.pki.secrets import Keyring, SecretsError, generate_key, key_id, load_keyring, write_key_file
from jeroboam.policy import sample as policy_sample
from jeroboam.services.stored_secrets import check_stored_secrets, reencrypt_all


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


def _secrets_database(args: argparse.Namespace) -> tuple[Database, Keyring]:
    settings = settings_from(args.config)
    try:
        keyring = load_keyring(settings, create=False)
    except SecretsError as exc:
        fail(exc.message)
    db = Database.from_url(settings.database_url)
    if migrate.current_revision(db.engine) != migrate.head_revision(db.engine):
        db.dispose()
        fail("the database schema is not at the newest revision; run 'jeroboam-manage db upgrade' first")
    return db, keyring


def secrets_check(args: argparse.Namespace) -> int:
    """Every encryption key stored secrets use is configured and decrypts them."""
    db, keyring = _secrets_database(args)
    try:
        used = check_stored_secrets(db, keyring)
    except SecretsError as exc:
        fail(exc.message)
    finally:
        db.dispose()
    print(f"ok: stored secrets use {used} encryption key(s); all decrypt with the keys from {keyring.source}")
    return 0


def secrets_rotate_key(args: argparse.Namespace) -> int:
    """Re-encrypt every stored secret with the current (first) key, in batches, while the service runs."""
    db, keyring = _secrets_database(args)
    try:
        if args.generate:
            path = keyring.key_file
            if path is None:
                fail(
                    "the keys come from [secrets] encryption_keys: put a new key ('jeroboam-manage secrets "
                    "generate-key') first in that list on every process, then run rotate-key without --generate"
                )
            new = generate_key().encode("ascii")
            write_key_file(path, [new, *keyring.keys])
            keyring.refresh()
            print(f"added key {key_id(new)} first to {path} (running processes re-read the file)")
        result = reencrypt_all(
            db,
            keyring,
            batch_size=args.batch_size,
            progress=lambda done: print(f"  re-encrypted {done} secret(s)", flush=True),
        )
    except SecretsError as exc:
        fail(exc.message)
    finally:
        db.dispose()
    print(
        f"{result.reencrypted} secret(s) re-encrypted with key {result.current_key}; "
        f"{result.remaining} remain under other keys"
    )
    if result.remaining:
        print(
            "some process still encrypts with an older key: give every process the new key first "
            "(see docs/security.md), then run rotate-key again",
            file=sys.stderr,
        )
        return 1
    return 0


DEFAULT_ENGINE = "unix:///var/run/docker.sock"
DOCKER_API_VERSION = "1.41"  # Debian 12's docker.io 20.10; a fixed version makes no request in the constructor


def images_build(args: argparse.Namespace) -> int:
    """Build (or find, when current) the docker provider's node and workload images on an engine."""
    unreachable = (
        f"No Docker engine answers at {args.engine}. "
        "Install docker.io and start dockerd: scripts/ensure-docker does both as root."
    )
    try:
        client = docker.DockerClient(base_url=args.engine, version=DOCKER_API_VERSION, timeout=120)
    except docker.errors.DockerException as exc:
        print(f"error: cannot use the engine URL {args.engine}: {exc}", file=sys.stderr)
        return 1
    client.api.trust_env = False  # REQUESTS_CA_BUNDLE / proxy variables must not apply to the engine
    try:
        client.ping()
    except (docker.errors.DockerException, requests.RequestException):
        print(f"error: {unreachable}", file=sys.stderr)
        return 1

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        tags = [
            node_image(client, progress=say, rebuild=args.rebuild),
            workload_image(client, progress=say, rebuild=args.rebuild),
        ]
    except ImageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except docker.errors.APIError as exc:
        print(f"error: the Docker engine at {args.engine} failed: {exc.explanation or exc}", file=sys.stderr)
        return 1
    except (docker.errors.DockerException, requests.RequestException):
        print(f"error: {unreachable}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print("\n".join(tags))
    return 0


def images_prune(args: argparse.Namespace) -> int:
    """Remove node images no node uses any more (the current one stays), and API front images no
    front uses (the next front builds its image again in a second or two)."""
    try:
        client = docker.DockerClient(base_url=args.engine, version=DOCKER_API_VERSION, timeout=120)
        client.api.trust_env = False
        removed = prune_node_images(client) + prune_node_images(client, FRONT_IMAGE_REPOSITORY)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        print(f"error: the Docker engine at {args.engine} failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(removed) if removed else "no unused node or front image")
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

    secrets = groups.add_parser("secrets", help="encryption of secrets at rest").add_subparsers(
        dest="action", required=True
    )
    rotate = secrets.add_parser(
        "rotate-key", help="re-encrypt every stored secret with the current (first) encryption key"
    )
    rotate.add_argument(
        "--generate", action="store_true", help="first add a new key at the head of the key file (no keys configured)"
    )
    rotate.add_argument("--batch-size", type=int, default=100, help="secrets re-encrypted per transaction (100)")
    add_config_argument(rotate)
    rotate.set_defaults(func=secrets_rotate_key)
    check = secrets.add_parser("check", help="verify the configured keys decrypt every stored secret")
    add_config_argument(check)
    check.set_defaults(func=secrets_check)
    secrets.add_parser("generate-key", help="print a new encryption key for [secrets] encryption_keys").set_defaults(
        func=lambda _args: print(generate_key()) or 0
    )

    images = groups.add_parser("images", help="images of the docker provider").add_subparsers(
        dest="action", required=True
    )
    build = images.add_parser(
        "build", help="assemble the node and workload images from this host's Docker packages and import them"
    )
    build.add_argument("--rebuild", action="store_true", help="build and import even when the images are current")
    build.add_argument("--engine", default=DEFAULT_ENGINE, help=f"Docker engine URL ({DEFAULT_ENGINE})")
    build.set_defaults(func=images_build)
    prune = images.add_parser("prune", help="remove node images no node uses any more (the current one stays)")
    prune.add_argument("--engine", default=DEFAULT_ENGINE, help=f"Docker engine URL ({DEFAULT_ENGINE})")
    prune.set_defaults(func=images_prune)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
