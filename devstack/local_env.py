"""What the local stack (tests, `make demo`, `bench/`) sees of the caller's environment: everything
except the caller's AWS settings.

A developer's shell usually holds AWS credentials, a profile, config files, a CA bundle or a role
to assume. None of them may reach the local stack: SeaweedFS turns S3 authentication on when it
sees AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, botocore raises ProfileNotFound for an
AWS_PROFILE that the local configuration lacks, and a CLI that read them could reach real AWS.
This module is the one place that decides what is dropped:

    local_env(s3.env())      the environment of a process the stack starts (SeaweedFS, Airflow,
                             the sync agent, a CLI, a publish job, `aws s3 sync`)
    isolate_process()        the same, applied to os.environ (pytest, bench, the demo)
    boto3_session()          an in-process boto3 session that reads no variable and no file
    shell_unset_aws()        the shell line that does it in a user's shell (.local/demo/env.sh)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

# Every variable botocore, boto3 and the AWS CLI read starts with this (credentials, AWS_PROFILE,
# AWS_DEFAULT_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_SESSION_TOKEN,
# AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_CA_BUNDLE, AWS_ENDPOINT_URL[_S3], AWS_REGION, ...).
CALLER_PREFIX = "AWS_"

# What every local process gets instead: no AWS config or credentials file, no instance metadata.
# The endpoint, the devstack credentials and the region come from SeaweedFS.env().
NO_AWS_FILES = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def caller_aws_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of the AWS settings in `environ` (default os.environ) that the stack ignores."""
    env = os.environ if environ is None else environ
    return sorted(k for k in env if k.startswith(CALLER_PREFIX))


def local_env(*overlays: Mapping[str, str], base: Mapping[str, str] | None = None,
              drop_prefixes: Iterable[str] = ()) -> dict[str, str]:
    """`base` (default os.environ) without any AWS_* variable and without variables starting with
    one of `drop_prefixes`, plus NO_AWS_FILES, then each overlay in order (e.g. SeaweedFS.env())."""
    dropped = (CALLER_PREFIX, *drop_prefixes)
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(dropped)}
    env.update(NO_AWS_FILES)
    for overlay in overlays:
        env.update(overlay)
    return env


def isolate_process(*overlays: Mapping[str, str]) -> list[str]:
    """Apply local_env() to this process's os.environ (its in-process boto3 and every child it
    starts without an explicit env). Returns the names of the caller's settings it removed."""
    removed = caller_aws_settings()
    wanted = local_env(*overlays)
    for key in [k for k in os.environ if k not in wanted]:
        del os.environ[key]
    os.environ.update(wanted)
    return removed


def boto3_session() -> Any:
    """A boto3 Session that reads no AWS_* variable and no ~/.aws file, whatever os.environ holds:
    clients made from it get their endpoint, credentials and region from the caller only."""
    import boto3
    import botocore.credentials
    import botocore.session

    # Every setting without its environment variables, and the two files replaced by os.devnull.
    blind = {name: (config_name, None, os.devnull if name in ("config_file", "credentials_file") else default,
                    convert)
             for name, (config_name, _env_vars, default, convert) in botocore.session.Session.SESSION_VARIABLES.items()}
    core = botocore.session.Session(session_vars=blind)
    # No credential chain either (it reads AWS_ACCESS_KEY_ID, roles, SSO, instance metadata).
    core.register_component("credential_provider", botocore.credentials.CredentialResolver(providers=[]))
    return boto3.session.Session(botocore_session=core)


def shell_unset_aws() -> str:
    """A POSIX shell line (bash, zsh, dash) that unsets every exported AWS_* variable."""
    return f"unset $(env | sed -n 's/^\\({CALLER_PREFIX}[A-Za-z0-9_]*\\)=.*/\\1/p')"
