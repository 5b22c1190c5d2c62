"""Environments exist explicitly: an environment exists when the bucket holds `<env>/_environment.json`,
its declared settings, written by Terraform (from the same variable that makes the agents require
signatures), the local stack, the demo or `airflow-dag-publisher env create`:

    {"schema_version": 1, "env": "prod", "require_signatures": true}

`read_settings` is the one place that reads it. A missing file is "no such environment": every command
naming an environment refuses it (exit 2, kind `no_environment`) and names those that exist ("did you
mean prod?"), so a typo never publishes into a new, unwatched environment and never lists "no packages";
a publish never creates an environment. A file that cannot be parsed is a configuration error naming
its key. `refuse_unsigned` is the rule the settings drive today: a release committed without a signing
key into an environment whose agents require signatures would be published and then refused by every
agent, so the publisher refuses it first.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from airflow_dag_publisher.errors import (
    ConflictError,
    ErrorKind,
    NotFoundError,
    RefusedError,
    StorageError,
    UsageError,
)
from airflow_dag_publisher.names import ENV_RE
from airflow_dag_publisher.storage import JOURNAL_ROOT, Storage, environment_key

SCHEMA_VERSION = 1
MAX_BYTES = 64 * 1024
SIGNING_OPTION = "DAG_SIGNING_KEY (--signing-key)"
MAX_CHECKED = 10  # top-level folders checked for an _environment.json when naming the environments that exist


@dataclass(frozen=True)
class EnvironmentSettings:
    env: str
    require_signatures: bool = False

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
    """The environment's declared settings; a missing file is an error naming the environments that
    exist (exit 2, kind `no_environment`)."""
    key = environment_key(env)
    try:
        found = storage.get(key, max_bytes=MAX_BYTES).obj
    except StorageError as exc:
        if exc.kind is ErrorKind.ACCESS_DENIED:  # S3 answers 403, not 404, for a missing key one may not list
            raise StorageError(f"{exc} (is {env!r} the environment these credentials publish to?)",
                               kind=exc.kind) from None
        raise
    if found is None:
        raise no_environment(storage, env)
    if len(found.body) > MAX_BYTES:
        raise UsageError(f"{storage.url(key)}: over {MAX_BYTES} bytes", kind=ErrorKind.ENVIRONMENT)
    return parse_settings(found.body, source=storage.url(key), env=env)


def existing_environments(storage: Storage, *, near: str = "") -> tuple[list[str], int]:
    """The environments of the bucket: its top-level folders (one listing) that hold an
    `_environment.json`; at most MAX_CHECKED folders are checked, those closest to `near` first.
    Returns them sorted, and how many folders were not checked."""
    folders = [f for f in storage.list_top_folders() if f != JOURNAL_ROOT and ENV_RE.match(f)]
    folders.sort(key=lambda f: (-difflib.SequenceMatcher(None, near, f).ratio(), f))
    found = []
    for folder in folders[:MAX_CHECKED]:
        try:
            storage.head(environment_key(folder))
        except NotFoundError:
            continue
        found.append(folder)
    return sorted(found), max(0, len(folders) - MAX_CHECKED)


def no_environment(storage: Storage, env: str) -> UsageError:
    """Environment `env` does not exist: say which do (when the bucket may be listed), and how to create it."""
    try:
        names, unchecked = existing_environments(storage, near=env)
    except StorageError as exc:
        known = f"; the bucket's environments could not be listed ({exc})"
    else:
        close = difflib.get_close_matches(env, names, n=1, cutoff=0.6)
        known = (f"; environments there: {', '.join(names)}" if names else "; the bucket has no environment")
        known += f" and {unchecked} more folder(s) not checked" if unchecked else ""
        known += f" — did you mean {close[0]}?" if close else ""
    return UsageError(f"environment {env!r} does not exist in {storage.url()} (no {environment_key(env)}){known}. "
                      f"An environment is created by its infrastructure (Terraform, setup_localstack.sh) or by "
                      f"`airflow-dag-publisher env create --env {env} --bucket {storage.bucket}`",
                      kind=ErrorKind.NO_ENVIRONMENT)


def create_environment(storage: Storage, settings: EnvironmentSettings) -> bool:
    """Write `<env>/_environment.json` unless it exists (a conditional create): True when written. An
    environment that exists with these settings is left as it is (False); with others, refused:
    creating never changes an environment."""
    key = environment_key(settings.env)
    storage.require_versioning()
    found = storage.get(key, max_bytes=MAX_BYTES).obj
    if found is None:
        try:
            storage.put(key, settings.to_json(), content_type="application/json", if_none_match="*")
            return True
        except ConflictError:  # created meanwhile (a lost conditional create): compare with what won
            found = storage.get(key, max_bytes=MAX_BYTES).obj
            if found is None:
                raise
    held = parse_settings(found.body, source=storage.url(key), env=settings.env)
    if held != settings:
        raise RefusedError(f"environment {settings.env!r} already exists in {storage.url()} with "
                           f"require_signatures={str(held.require_signatures).lower()}; `env create` never changes "
                           f"an environment (its infrastructure does: Terraform's require_signatures)")
    return False


def refuse_unsigned(settings: EnvironmentSettings, *, signed: bool, action: str, url: str) -> None:
    """One line saying what to set, when `action` would commit an unsigned release that every agent of
    the environment refuses."""
    if settings.require_signatures and not signed:
        raise UsageError(f"environment {settings.env!r} requires signed releases ({url}: require_signatures) and "
                         f"no signing key is set: set {SIGNING_OPTION} to the package's key (Terraform output "
                         f"signing_key_aliases); nothing was {action}", kind=ErrorKind.SIGNATURE_REQUIRED)
