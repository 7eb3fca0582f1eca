"""Secrets at rest for operators: the start-up check that the configured keys decrypt what is
stored, and re-encryption under the current key (``jeroboam-manage secrets``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jeroboam.db.repositories import certificates as repo
from jeroboam.db.session import Database
from jeroboam.pki.secrets import Keyring


def check_stored_secrets(db: Database, keyring: Keyring) -> int:
    """Decrypt one stored secret per encryption key in use; SecretsError when one does not decrypt.
    Returns how many keys are in use."""
    with db.transaction() as session:
        used = repo.key_ids(session)
        for key_id in used:
            row = repo.one_with_key(session, key_id)
            if row is not None:
                keyring.decrypt(row.encrypted_private_key, row.key_id)
    return len(used)


@dataclass(frozen=True)
class Reencryption:
    current_key: str
    reencrypted: int
    remaining: int


def reencrypt_all(
    db: Database, keyring: Keyring, *, batch_size: int = 100, progress: Callable[[int], None] | None = None
) -> Reencryption:
    """Re-encrypt every stored secret that another key than the current one encrypted, a batch per
    transaction (each row locked only while its batch runs: conductors and the API keep working;
    every configured key still decrypts meanwhile). A secret that does not decrypt stops the run
    with SecretsError; what was done stays done and nothing is half-written."""
    current = keyring.current_id
    done, after = 0, 0
    while True:
        with db.transaction() as session:
            rows = repo.batch_not_under(session, current, after, batch_size)
            for row in rows:
                row.encrypted_private_key, row.key_id = keyring.reencrypt(row.encrypted_private_key, row.key_id)
                after = row.id
        if not rows:
            break
        done += len(rows)
        if progress is not None:
            progress(done)
    with db.transaction() as session:
        remaining = repo.count_not_under(session, current)
    return Reencryption(current, done, remaining)
