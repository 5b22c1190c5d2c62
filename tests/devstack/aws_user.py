"""The shell of an AWS user, as a new contributor runs `make demo`, `make test` or `make bench` from
it: credentials exported, a profile that the machine's AWS config does not define (botocore raises
ProfileNotFound for it), config and credentials files that exist and name other profiles, a session
token, a role to assume and a CA bundle. The local stack must work the same in it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

USER_SETTINGS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
    "AWS_PROFILE": "prod-admin",
    "AWS_DEFAULT_PROFILE": "prod-admin",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/prod-admin",
    "AWS_ROLE_SESSION_NAME": "new-contributor",
}

CONFIG = """\
[default]
region = eu-west-1
output = json

[profile prod-readonly]
region = eu-west-1
role_arn = arn:aws:iam::123456789012:role/ReadOnly
source_profile = default
"""

CREDENTIALS = """\
[default]
aws_access_key_id = AKIAI44QH8DHBEXAMPLE
aws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY
"""


def aws_user_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) with an AWS user's settings; their files are written under `home`."""
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    (aws / "config").write_text(CONFIG)
    (aws / "credentials").write_text(CREDENTIALS)
    (aws / "web-identity-token").write_text("eyJhbGciOiJSUzI1NiJ9.example.signature\n")
    (aws / "corporate-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return {
        **(os.environ if base is None else base),
        **USER_SETTINGS,
        "AWS_CONFIG_FILE": str(aws / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(aws / "web-identity-token"),
        "AWS_CA_BUNDLE": str(aws / "corporate-ca.pem"),
    }
