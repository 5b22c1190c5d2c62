"""`airflow-dag-publisher env create|list`: declare an environment in a bucket, or list those that exist.

An environment exists when the bucket holds `<env>/_environment.json`; Terraform, setup_localstack.sh
and the demo write it, and `env create` does the same by hand. A publish never creates one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.environments import EnvironmentSettings, create_environment, existing_environments
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.names import check_bucket, check_env
from airflow_dag_publisher.output import emit_json, info
from airflow_dag_publisher.storage import environment_key

ACTIONS = ("create", "list")


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "env", help="create an environment in a bucket, or list the environments that exist",
        description="An environment exists when the bucket holds <env>/_environment.json, its declared settings "
        "(Terraform, setup_localstack.sh and the demo write it). `env create` writes it, once: an environment that "
        "exists with the same settings is left as it is, with others refused. `env list` names the environments "
        "of a bucket.",
        examples=["create --env staging --bucket acme-airflow-dags-dev",
                  "create --env prod --bucket acme-airflow-dags-prod --require-signatures",
                  "list --bucket acme-airflow-dags-dev --json"],
        exits={1: "refused: the environment exists with other settings",
               2: "usage or configuration error (bad names, a bucket that does not exist or is not versioned)"})
    p.add_argument("action", choices=ACTIONS, metavar="{create,list}", help="create: write <env>/_environment.json; "
                   "list: the environments of the bucket")
    o = toolkit.Options(p, environ)
    common.add_env(o)
    common.add_bucket(o)
    p.add_argument("--require-signatures", action="store_true",
                   help="create: the environment's agents require signed releases (publishers then refuse to "
                   "commit unsigned ones)")
    common.add_json(o)


def env(action: str, *, env_name: str | None, bucket: str | None, require_signatures: bool, as_json: bool,
        s3_timeout: float = common.DEFAULT_S3_TIMEOUT) -> int:
    storage = common.open_storage(check_bucket(bucket), s3_timeout)
    if action == "list":
        if require_signatures:
            raise UsageError("env list: --require-signatures is for `env create`")
        names, unchecked = existing_environments(storage)
        if as_json:
            emit_json(names)
        elif names:
            info("\n".join(names) + (f"\n({unchecked} more folder(s) not checked)" if unchecked else ""))
        else:
            info(f"no environment in {storage.url()}")
        return 0
    settings = EnvironmentSettings(check_env(env_name), require_signatures=require_signatures)
    created = create_environment(storage, settings)
    url = storage.url(environment_key(settings.env))
    if as_json:
        emit_json({**settings.to_dict(), "created": created, "url": url})
    else:
        info(f"{url}: environment {settings.env!r} " + ("created" if created else "already exists")
             + f" (require_signatures: {str(settings.require_signatures).lower()})")
    return 0
