"""Secrets at rest: private keys are stored encrypted with Fernet keys from the settings.

Keys come from ``[secrets] encryption_keys`` (the first encrypts, every one
decrypts), or, when none is configured, from a key file (``[secrets] key_file``,
default ``<data_dir>/secret.key``: one key a line, first encrypts), which is
created with mode 0600 on first use. Every stored secret names the id of the key
that encrypted it (a short SHA-256 of the key, never the key), so rotating keys
re-encrypts exactly the rows that need it and a wrong key is detected, not
guessed at. A key file is re-read when it changes, so a key added to it is used
by running processes without a restart.

Keys and plaintexts never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from jeroboam.config import Settings
from jeroboam.errors import ServiceUnavailableError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"
UNDECRYPTABLE = "the configured encryption keys cannot decrypt stored secrets"
HELP = (
    "configure the key the secrets were encrypted with ([secrets] encryption_keys, or the key file), "
    "keeping it in the list until 'jeroboam-manage secrets rotate-key' has re-encrypted everything; "
    "see docs/security.md"
)


class SecretsError(ServiceUnavailableError):
    """Stored secrets cannot be encrypted or decrypted with the configured keys (an operator's fix)."""

    code = "secrets"


class KeyConfigurationError(SecretsError):
    """No usable encryption key is configured."""

    code = "secrets_configuration"


def key_id(key: bytes) -> str:
    """The id stored next to what ``key`` encrypted: 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(values: Sequence[str], where: str) -> list[bytes]:
    """Fernet keys from text, checked, in order, without duplicates."""
    keys: list[bytes] = []
    for index, value in enumerate(values, start=1):
        raw = value.strip().encode("ascii", errors="replace")
        try:
            Fernet(raw)
        except (ValueError, binascii.Error):
            raise KeyConfigurationError(
                f"{where}: entry {index} is not an encryption key (url-safe base64 of 32 bytes); "
                "generate one with 'jeroboam-manage secrets generate-key'"
            ) from None
        if raw not in keys:
            keys.append(raw)
    if not keys:
        raise KeyConfigurationError(f"{where} holds no encryption key")
    return keys


def read_key_file(path: Path) -> list[bytes]:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigurationError(f"cannot read the key file {path}: {type(exc).__name__}") from None
    lines = [line.strip() for line in text.splitlines()]
    return parse_keys([line for line in lines if line and not line.startswith("#")], f"key file {path}")


def _write_private(directory: Path, text: str) -> str:
    """A new file in ``directory`` with ``text``, mode 0600, synced; returns its path."""
    fd, temporary = tempfile.mkstemp(prefix=f".{KEY_FILE_NAME}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return temporary


def create_key_file(path: Path) -> bool:
    """Create ``path`` with one new key (mode 0600) unless it exists; True when this call created it.

    The file appears atomically and only once: processes starting together share one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    temporary = _write_private(path.parent, f"{generate_key()}\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file's keys atomically (mode 0600); the first one encrypts."""
    header = "# Jeroboam encryption keys: the first encrypts, every one decrypts. Never share this file.\n"
    temporary = _write_private(path.parent, header + "".join(f"{key.decode('ascii')}\n" for key in keys))
    os.replace(temporary, path)


def key_file_path(settings: Settings) -> Path:
    return settings.secrets.key_file or settings.data_dir / KEY_FILE_NAME


class Keyring:
    """Encrypts with the current (first) key; decrypts with the key a secret names."""

    def __init__(self, keys: Sequence[bytes], *, source: str, key_file: Path | None = None) -> None:
        self.source = source
        self.key_file = key_file
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._install(list(keys))

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        keyring = cls(read_key_file(path), source=f"key file {path}", key_file=path)
        keyring._stamp = keyring._file_stamp()
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("key file %s is readable by other users (mode %o); make it 0600", path, mode & 0o777)
        return keyring

    def _install(self, keys: list[bytes]) -> None:
        if not keys:
            raise KeyConfigurationError(f"{self.source} holds no encryption key")
        self._keys = keys
        self._by_id = {key_id(key): Fernet(key) for key in keys}
        self._current = key_id(keys[0])
        self._all = MultiFernet([Fernet(key) for key in keys])

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self.key_file is None:
            return None
        try:
            found = self.key_file.stat()
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def refresh(self) -> None:
        """Re-read the key file when it changed (a key added or retired by an operator)."""
        if self.key_file is None:
            return
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                keys = read_key_file(self.key_file)
            except KeyConfigurationError as exc:
                log.error("keeping the previous encryption keys: %s", exc.message)
                return
            self._install(keys)
            self._stamp = stamp
            log.info("encryption keys re-read from %s (current key %s)", self.key_file, self._current)

    @property
    def current_id(self) -> str:
        self.refresh()
        return self._current

    @property
    def ids(self) -> tuple[str, ...]:
        self.refresh()
        return tuple(self._by_id)

    @property
    def keys(self) -> tuple[bytes, ...]:
        self.refresh()
        return tuple(self._keys)

    def encrypt(self, plaintext: str) -> tuple[str, str]:
        """The token and the id of the key that made it."""
        self.refresh()
        current = self._current
        token = self._by_id[current].encrypt(plaintext.encode("utf-8")).decode("ascii")
        return token, current

    def decrypt(self, token: str, encrypted_with: str) -> str:
        self.refresh()
        fernet = self._by_id.get(encrypted_with)
        try:
            if fernet is not None:
                return fernet.decrypt(token.encode("ascii")).decode("utf-8")
            # An id we do not know: any configured key may still be the one (ids are hints).
            return self._all.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            known = "is configured but does not decrypt it" if fernet is not None else "is not configured"
            raise SecretsError(
                f"{UNDECRYPTABLE}: a secret encrypted with key {encrypted_with} (which {known}, "
                f"keys from {self.source}); {HELP}"
            ) from None

    def reencrypt(self, token: str, encrypted_with: str) -> tuple[str, str]:
        """The secret encrypted with the current key."""
        return self.encrypt(self.decrypt(token, encrypted_with))

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} keys from {self.source}, current {self._current})"


def load_keyring(settings: Settings, *, create: bool = True) -> Keyring:
    """The keys of ``[secrets] encryption_keys``, else of the key file (created when missing and
    ``create``: the all-in-one needs no configuration)."""
    configured = [secret.get_secret_value() for secret in settings.secrets.encryption_keys]
    if configured:
        where = "[secrets] encryption_keys"
        return Keyring(parse_keys(configured, where), source=where)
    path = key_file_path(settings)
    if not path.exists():
        if not create:
            raise KeyConfigurationError(
                f"no encryption key: [secrets] encryption_keys is empty and the key file {path} does not exist"
            )
        if create_key_file(path):
            log.warning(
                "generated a new encryption key for secrets at rest in %s (mode 0600); back it up. Processes "
                "on other machines sharing this database need the same key ([secrets] encryption_keys)",
                path,
            )
    return Keyring.from_file(path)
