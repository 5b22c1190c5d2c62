"""An environment's declared settings: `<env>/_environment.json` in the bucket, written by Terraform
(from the same variable that makes the agents require signatures), the local stack and the demo.

    {"schema_version": 1, "env": "prod", "require_signatures": true}

`read_settings` is the one place that reads it, and `refuse_unsigned` the one rule it drives today: a
release committed without a signing key into an environment whose agents require signatures would be
published and then refused by every agent, so the publisher refuses it first. A missing file means "no
declared requirements" (a later change makes it mean "no such environment"); a file that cannot be
parsed is a configuration error naming its key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_dag_publisher.errors import ErrorKind, UsageError
from airflow_dag_publisher.storage import Storage, environment_key

SCHEMA_VERSION = 1
MAX_BYTES = 64 * 1024
SIGNING_OPTION = "DAG_SIGNING_KEY (--signing-key)"


@dataclass(frozen=True)
class EnvironmentSettings:
    env: str
    require_signatures: bool = False
    declared: bool = True  # False: the bucket holds no _environment.json for this environment

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "env": self.env, "require_signatures": self.require_signatures}

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode()


def parse_settings(data: bytes, *, source: str, env: str) -> EnvironmentSettings:
    """Parse `_environment.json`. Unknown keys are ignored (a newer writer may add settings); a known key
    of the wrong type, another environment's file or an unknown schema_version is a UsageError."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"{source}: not valid UTF-8 JSON ({exc})", kind=ErrorKind.ENVIRONMENT) from None
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: not a JSON object", kind=ErrorKind.ENVIRONMENT)
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UsageError(f"{source}: schema_version {version!r} is not {SCHEMA_VERSION}", kind=ErrorKind.ENVIRONMENT)
    if raw.get("env") != env:
        raise UsageError(f"{source}: env {raw.get('env')!r} is not {env!r}", kind=ErrorKind.ENVIRONMENT)
    require = raw.get("require_signatures", False)
    if not isinstance(require, bool):
        raise UsageError(f"{source}: require_signatures must be true or false, not {require!r}",
                         kind=ErrorKind.ENVIRONMENT)
    return EnvironmentSettings(env=env, require_signatures=require)


def read_settings(storage: Storage, env: str) -> EnvironmentSettings:
    """The environment's declared settings; undeclared (no requirements) when the file does not exist."""
    key = environment_key(env)
    found = storage.get(key, max_bytes=MAX_BYTES).obj
    if found is None:
        return EnvironmentSettings(env=env, declared=False)
    if len(found.body) > MAX_BYTES:
        raise UsageError(f"{storage.url(key)}: over {MAX_BYTES} bytes", kind=ErrorKind.ENVIRONMENT)
    return parse_settings(found.body, source=storage.url(key), env=env)


def refuse_unsigned(settings: EnvironmentSettings, *, signed: bool, action: str, url: str) -> None:
    """One line saying what to set, when `action` would commit an unsigned release that every agent of
    the environment refuses."""
    if settings.require_signatures and not signed:
        raise UsageError(f"environment {settings.env!r} requires signed releases ({url}: require_signatures) and "
                         f"no signing key is set: set {SIGNING_OPTION} to the package's key (Terraform output "
                         f"signing_key_aliases); nothing was {action}", kind=ErrorKind.SIGNATURE_REQUIRED)
