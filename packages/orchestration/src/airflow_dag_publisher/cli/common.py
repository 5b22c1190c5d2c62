"""Pieces shared by the publisher's commands: the options of the CLI contract (each with its
environment variable), checked names and the storage, release metadata."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from airflow_dag_publisher import __version__
from airflow_dag_publisher.cli.toolkit import Options, number
from airflow_dag_publisher.environments import read_settings
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.names import check_bucket, check_env, check_package
from airflow_dag_publisher.publisher import ReleaseMeta
from airflow_dag_publisher.signing import PemSigner, Signer
from airflow_dag_publisher.storage import Storage, make_client


def add_env(o: Options) -> None:
    o.add("--env", env="ENVIRONMENT", help="environment, e.g. dev")


def add_package(o: Options) -> None:
    o.add("--package", env="PACKAGE_NAME", help="package name")


# Each S3 request attempt waits at most this long to connect and for an answer; with boto's default of
# three attempts a silent endpoint fails the command within 25 s (AWS_MAX_ATTEMPTS changes the count).
DEFAULT_S3_TIMEOUT = 8.0
S3_ATTEMPTS = 3  # in all, unless AWS_MAX_ATTEMPTS (or the profile's max_attempts) says otherwise


def add_bucket(o: Options) -> None:
    """--bucket, and --s3-timeout: every command that names a bucket talks to S3."""
    o.add("--bucket", env="DAG_BUCKET", help="S3 bucket of DAGs")
    o.add("--s3-timeout", env="DAG_S3_TIMEOUT", type=number(float, maximum=3600), default=DEFAULT_S3_TIMEOUT,
          metavar="SECONDS", help=f"connect and read timeout of each S3 request attempt (default "
          f"{DEFAULT_S3_TIMEOUT:g}; {S3_ATTEMPTS} attempts unless AWS_MAX_ATTEMPTS says otherwise)")


def open_storage(bucket: str, s3_timeout: float) -> Storage:
    """The publisher's S3: every request through botocore (its retries, AWS_MAX_ATTEMPTS and
    AWS_RETRY_MODE honoured, each failed attempt logged under -v), each attempt bounded by `s3_timeout`."""
    client = make_client(connect_timeout=s3_timeout, read_timeout=s3_timeout, attempts=S3_ATTEMPTS - 1,
                         retry_log_level=logging.INFO)
    return Storage(bucket, client, direct=False)


def add_image(o: Options) -> None:
    o.add("--image", env="IMAGE_TAG", help="the package's container image")


def add_source(o: Options) -> None:
    o.add("--source", env="DAG_SOURCE_DIR", default="airflow_dags", help="folder of DAG files (default: airflow_dags)")


def add_packages_file(o: Options) -> None:
    o.add("--packages-file", env="DAG_PACKAGES_FILE", type=Path, metavar="FILE",
          help="the platform's package list the cluster policy is judged against (default: the nearest "
          "infra/airflow/packages.yaml above --source)")


@dataclass(frozen=True)
class Guardrails:
    """--allow-empty and --max-delete as given."""

    allow_empty: bool = False
    max_delete: int | None = None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Guardrails:
        return cls(args.allow_empty, args.max_delete)


def add_guardrails(o: Options, what: str) -> None:
    """--allow-empty and --max-delete, the guardrails of a command that commits new files (`what`)."""
    o.parser.add_argument("--allow-empty", action="store_true", help="allow a release with no files")
    o.parser.add_argument("--max-delete", type=number(int, minimum=0, exclusive=False), default=None, metavar="N",
                          help=f"refuse {what} that deletes more than N files of the current release")


def add_signing_key(o: Options) -> None:
    o.add("--signing-key", env="DAG_SIGNING_KEY", metavar="KEY",
          help="sign the release: a KMS key id, key ARN or alias/NAME, or file:PATH of a PEM private key")


_KMS_KEY = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_+=.@-]+"
                      r"|alias/[A-Za-z0-9/_-]{1,250}|(mrk-)?[0-9a-f]{8}-?[0-9a-f-]{23,32})$")


def signer_from_option(value: str | None, *, option: str = "--signing-key (DAG_SIGNING_KEY)") -> Signer | None:
    """The signer a `--signing-key` value names: `file:PATH` (a PEM private key), or a KMS key id,
    key ARN, alias ARN or `alias/NAME`. None for no value; a bad value is a usage error."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.startswith("file:"):
        if not value[5:]:
            raise UsageError(f"{option}: file: needs a path, e.g. file:signing-key.pem")
        return PemSigner(Path(value[5:]).expanduser())
    if _KMS_KEY.match(value):
        from airflow_dag_publisher.kms import KmsSigner  # boto3 only when KMS is used

        return KmsSigner(value)
    raise UsageError(f"{option} {value!r}: expected a KMS key id, key ARN, alias ARN or alias/NAME, or "
                     "file:PATH of a PEM private key")


def add_json(o: Options) -> None:
    o.parser.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else "
                          "(errors too: {\"error\": {\"code\", \"kind\", \"message\"}})")


def add_target(o: Options) -> None:
    """--env, --package and --bucket: the package of an environment a command works on."""
    add_env(o)
    add_package(o)
    add_bucket(o)


@dataclass(frozen=True)
class Target:
    """--env, --bucket and --package as given: the package of an environment a command works on."""

    env: str | None
    bucket: str | None
    package: str | None = None
    s3_timeout: float = DEFAULT_S3_TIMEOUT

    @classmethod
    def of(cls, args: argparse.Namespace) -> Target:
        """The options `add_target` declared (list's --package has no variable but the same dest)."""
        return cls(args.env, args.bucket, args.package, args.s3_timeout)

    def open(self, *, package: bool = True, existing: bool = False) -> tuple[Storage, str, str]:
        """Check the names and open the storage. Names are checked first, so a bad name is a usage
        error before any network call. Without `package`, --package is optional ("" when absent).
        With `existing`, the environment must exist (a command that writes checks it in Publisher)."""
        env = check_env(self.env)
        bucket = check_bucket(self.bucket)
        pkg = check_package(self.package) if package or self.package else ""
        storage = open_storage(bucket, self.s3_timeout)
        if existing:
            read_settings(storage, env)
        return storage, env, pkg


def published_by() -> str:
    job = os.environ.get("CI_JOB_ID")
    if job:
        project = os.environ.get("CI_PROJECT_PATH", "")
        return f"gitlab-ci job {job}" + (f" ({project})" if project else "")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def git_sha(source: Path | None) -> str | None:
    sha = os.environ.get("CI_COMMIT_SHA")
    if sha:
        return sha
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source or Path.cwd(), capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def release_meta(image: str | None, source: Path | None = None) -> ReleaseMeta:
    return ReleaseMeta(published_by=published_by(), tool_version=__version__, git_sha=git_sha(source),
                       image=image or None)
