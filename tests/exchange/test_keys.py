"""Key loading: PKCS#1 and PKCS#8 PEM accepted; world-readable, encrypted and non-RSA refused."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kalshi_guard.core.errors import ConfigError
from kalshi_guard.exchange.keys import generate_private_key, load_private_key, write_private_key


@pytest.fixture(scope="module")
def key():
    return generate_private_key()


def _write(path, data: bytes, mode: int = 0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)
    os.chmod(path, mode)
    return path


class TestLoad:
    def test_pkcs8(self, tmp_path, key):
        """A PKCS#8 PEM written by write_private_key loads back as the same key."""
        write_private_key(tmp_path / "k.pem", key)
        assert load_private_key(tmp_path / "k.pem").private_numbers() == key.private_numbers()

    def test_pkcs1(self, tmp_path, key):
        """A PKCS#1 'RSA PRIVATE KEY' PEM (Kalshi's download format) loads."""
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY")
        p = _write(tmp_path / "k1.pem", pem)
        assert load_private_key(p).private_numbers() == key.private_numbers()

    def test_world_readable_refused(self, tmp_path, key):
        """A key readable by others is refused with a chmod hint and no key material."""
        write_private_key(tmp_path / "k.pem", key)
        os.chmod(tmp_path / "k.pem", 0o644)
        with pytest.raises(ConfigError) as exc:
            load_private_key(tmp_path / "k.pem")
        assert "chmod 600" in str(exc.value)
        assert "BEGIN" not in str(exc.value)

    def test_missing_refused(self, tmp_path):
        """A missing file is a config error."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_private_key(tmp_path / "nope.pem")

    def test_encrypted_refused(self, tmp_path, key):
        """A passphrase-protected key is refused (the daemon cannot prompt)."""
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"pw"))
        with pytest.raises(ConfigError, match="encrypted"):
            load_private_key(_write(tmp_path / "e.pem", pem))

    def test_not_rsa_refused(self, tmp_path):
        """An EC key is refused: Kalshi signs with RSA-PSS."""
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        with pytest.raises(ConfigError, match="not an RSA key"):
            load_private_key(_write(tmp_path / "ec.pem", pem))

    def test_not_pem_refused(self, tmp_path):
        """Garbage is refused as not a PEM private key."""
        with pytest.raises(ConfigError, match="not a PEM"):
            load_private_key(_write(tmp_path / "g.pem", b"hello"))

    def test_written_mode_is_0600(self, tmp_path, key):
        """write_private_key creates the file with mode 0600."""
        write_private_key(tmp_path / "k.pem", key)
        assert os.stat(tmp_path / "k.pem").st_mode & 0o777 == 0o600
