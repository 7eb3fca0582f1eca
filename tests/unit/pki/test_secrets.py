"""Secrets at rest: encryption round trip, key rotation, wrong keys detected (never guessed at)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from jeroboam.config import load_settings
from jeroboam.domain.specs import TlsMaterial
from jeroboam.pki import secrets
from jeroboam.pki.secrets import KeyConfigurationError, Keyring, SecretsError

SECRET = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def new_key() -> bytes:
    return Fernet.generate_key()


def test_a_round_trip_names_the_key_and_hides_the_plaintext() -> None:
    key = new_key()
    keyring = Keyring([key], source="test")
    token, key_id = keyring.encrypt(SECRET)
    assert key_id == secrets.key_id(key) == keyring.current_id
    assert len(key_id) == 16
    assert "PRIVATE KEY" not in token
    assert SECRET not in token
    assert keyring.decrypt(token, key_id) == SECRET
    assert token != keyring.encrypt(SECRET)[0]  # a fresh IV each time


def test_rotation_old_keys_still_decrypt_and_reencrypt_moves_to_the_current_key() -> None:
    old, new = new_key(), new_key()
    token, old_id = Keyring([old], source="test").encrypt(SECRET)
    rotating = Keyring([new, old], source="test")
    assert rotating.current_id == secrets.key_id(new) != old_id
    assert rotating.decrypt(token, old_id) == SECRET
    moved, moved_id = rotating.reencrypt(token, old_id)
    assert moved_id == secrets.key_id(new)
    after = Keyring([new], source="test")  # the old key retired
    assert after.decrypt(moved, moved_id) == SECRET
    with pytest.raises(SecretsError):
        after.decrypt(token, old_id)


def test_a_wrong_key_is_detected_and_the_error_shows_no_key_material() -> None:
    key, wrong = new_key(), new_key()
    token, key_id = Keyring([key], source="test").encrypt(SECRET)
    keyring = Keyring([wrong], source="[secrets] encryption_keys")
    with pytest.raises(SecretsError) as caught:
        keyring.decrypt(token, key_id)
    message = caught.value.message
    assert message.startswith(secrets.UNDECRYPTABLE)
    assert key_id in message
    assert "is not configured" in message
    for material in (key.decode(), wrong.decode(), SECRET, token):
        assert material not in message
        assert material not in repr(keyring)
    # A key that is configured under the right id but changed (a corrupted token) is reported too.
    with pytest.raises(SecretsError, match="is configured but does not decrypt it"):
        Keyring([key], source="test").decrypt(token[:-4] + "AAAA", key_id)


def test_an_unknown_key_id_still_tries_every_key() -> None:
    key = new_key()
    token, _ = Keyring([key], source="test").encrypt(SECRET)
    assert Keyring([new_key(), key], source="test").decrypt(token, "0000000000000000") == SECRET


def test_keys_that_are_not_fernet_keys_are_refused_with_the_entry() -> None:
    with pytest.raises(KeyConfigurationError, match="entry 2 is not an encryption key"):
        secrets.parse_keys([new_key().decode(), "hunter2"], "[secrets] encryption_keys")
    with pytest.raises(KeyConfigurationError, match="no encryption key"):
        secrets.parse_keys([], "key file x")


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    assert secrets.create_key_file(path) is True
    first = path.read_text()
    assert secrets.create_key_file(path) is False
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.glob(".secret.key.*")) == []  # no temporary left behind
    Fernet(first.strip().encode())


def test_load_keyring_generates_the_file_on_first_use_and_reuses_it(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(KeyConfigurationError, match="does not exist"):
        secrets.load_keyring(settings, create=False)
    first = secrets.load_keyring(settings)
    assert first.key_file == tmp_path / "secret.key"
    token, key_id = first.encrypt(SECRET)
    again = secrets.load_keyring(settings, create=False)
    assert again.current_id == first.current_id
    assert again.decrypt(token, key_id) == SECRET


def test_configured_keys_win_over_the_key_file(tmp_path: Path) -> None:
    secrets.create_key_file(tmp_path / "secret.key")
    key = new_key()
    settings = load_settings(data_dir=tmp_path, secrets={"encryption_keys": [SecretStr(key.decode())]})
    keyring = secrets.load_keyring(settings)
    assert keyring.key_file is None
    assert keyring.current_id == secrets.key_id(key)
    assert key.decode() not in repr(settings.secrets)
    assert key.decode() not in repr(keyring)


def test_a_running_keyring_rereads_a_changed_key_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    secrets.create_key_file(path)
    keyring = Keyring.from_file(path)
    token, old_id = keyring.encrypt(SECRET)
    new = new_key()
    secrets.write_key_file(path, [new, *keyring.keys])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring.current_id == secrets.key_id(new)  # picked up without a restart
    assert keyring.encrypt(SECRET)[1] == secrets.key_id(new)
    assert keyring.decrypt(token, old_id) == SECRET


def test_tls_material_keeps_private_keys_out_of_its_repr() -> None:
    material = TlsMaterial("CA", "SERVER", SECRET, "CLIENT", SECRET)
    assert "PRIVATE KEY" not in repr(material)
