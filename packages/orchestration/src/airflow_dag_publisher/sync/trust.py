"""The agent's trust: which public keys may sign each package's releases (`--trust-file`, a YAML
mapping package -> list of PEM public keys; the entry `"*"` lists keys trusted for every package
without an entry of its own, e.g. one platform key for a development environment) and whether a
package without keys applies nothing (`--require-signatures`). A trust file that does not parse is
a usage error naming the file and the package at fault."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.files import read_text
from airflow_dag_publisher.names import PACKAGE_RE
from airflow_dag_publisher.signing import TrustedKey, load_public_key

MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024
ANY_PACKAGE = "*"


@dataclass(frozen=True)
class Trust:
    """Trusted keys per package. The default trusts nothing and requires nothing: every release
    applies unchecked, as before signatures existed."""

    keys: Mapping[str, tuple[TrustedKey, ...]] = field(default_factory=dict)
    require: bool = False
    source: str = ""

    def keys_for(self, package: str) -> tuple[TrustedKey, ...]:
        """The package's own keys; a package without an entry gets the `"*"` entry's (if any)."""
        return self.keys[package] if package in self.keys else self.keys.get(ANY_PACKAGE, ())

    @property
    def enabled(self) -> bool:
        return self.require or bool(self.keys)


def parse_trust(text: str, *, source: str) -> dict[str, tuple[TrustedKey, ...]]:
    """package -> its trusted keys, from the trust file's text."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML ({exc})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: expected a mapping of package -> list of PEM public keys")
    keys: dict[str, tuple[TrustedKey, ...]] = {}
    for package, pems in raw.items():
        where = f"{source}: package {package!r}"
        if not isinstance(package, str) or not (PACKAGE_RE.match(package) or package == ANY_PACKAGE):
            raise UsageError(f"{where}: not a valid package name")
        if isinstance(pems, str):
            pems = [pems]
        if not isinstance(pems, list) or not pems:
            raise UsageError(f"{where}: expected a non-empty list of PEM public keys")
        found: list[TrustedKey] = []
        for i, pem in enumerate(pems):
            if not isinstance(pem, str):
                raise UsageError(f"{where}, key {i + 1}: not a PEM string")
            key = TrustedKey.from_key(load_public_key(pem, source=f"{where}, key {i + 1}"))
            if key.fingerprint not in {k.fingerprint for k in found}:
                found.append(key)
        keys[package] = tuple(found)
    return keys


def load_trust(path: str | None, *, require: bool, option: str = "--trust-file") -> Trust:
    """The trust of `--trust-file PATH` (none: no keys) and `--require-signatures`."""
    if not path:
        return Trust(require=require)
    text = read_text(Path(path), max_bytes=MAX_TRUST_FILE_BYTES, what=f"{option} {path}")
    return Trust(parse_trust(text, source=path), require=require, source=path)
