"""Local signing keys for the demo, the benchmarks and the tests: a PEM private key file (what
`--signing-key file:PATH` reads) and the agent's trust file (package -> list of PEM public keys)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def write_key(path: Path, kind: str = "ec") -> Path:
    """A new private key at `path` (mode 0600): `ec` (P-256, what KMS's ECC_NIST_P256 is), `p384` or `rsa`."""
    if kind == "rsa":
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = rsa.generate_private_key(65537, 2048)
    else:
        key = ec.generate_private_key(ec.SECP384R1() if kind == "p384" else ec.SECP256R1())
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def public_pem(private_key_file: Path) -> str:
    """The PEM public key (SubjectPublicKeyInfo) of a private key file."""
    key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def trust_yaml(trusted: Mapping[str, Sequence[str]]) -> str:
    """The agent's trust file: each package with its PEM public keys as YAML block literals."""
    lines: list[str] = []
    for package, pems in sorted(trusted.items()):
        lines.append(f"{package}:")
        for pem in pems:
            lines.append("  - |")
            lines.extend(f"    {line}" for line in pem.strip().splitlines())
    return "\n".join(lines) + "\n"
