"""A private CA and a one-day certificate for 127.0.0.1 signed by it (openssl), for hubs
served over HTTPS in tests."""
from __future__ import annotations

import subprocess
from pathlib import Path

CA_EXTENSIONS = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a one-day certificate for 127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    folder.mkdir()
    (folder / "ca.ext").write_text(CA_EXTENSIONS)
    (folder / "server.ext").write_text(SERVER_EXTENSIONS)
    openssl("genrsa", "-out", "ca.key", "2048", cwd=folder)
    openssl("req", "-new", "-key", "ca.key", "-subj", "/CN=Causeway Test Private CA", "-out", "ca.csr", cwd=folder)
    openssl("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-days", "1", "-sha256",
            "-extfile", "ca.ext", "-out", "ca.pem", cwd=folder)
    openssl("genrsa", "-out", "server.key", "2048", cwd=folder)
    openssl("req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr", cwd=folder)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-sha256", "-extfile", "server.ext", "-out", "server.pem", cwd=folder)
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"
