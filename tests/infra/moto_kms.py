"""`moto_server`, with each KMS request authorised against the key it names.

moto's IAM enforcement checks a KMS request's action against Resource "*" only (its KMS responses
name no resource), so a policy scoped to key ARNs, as ours is, would be denied everything. AWS
authorises a KMS request against the ARN of the key it resolves to (an alias included); this gives
moto that resource, so the IAM documents Terraform deploys are evaluated by moto as AWS would.

Run as `python -m tests.infra.moto_kms -H 127.0.0.1 -p PORT` (tests/infra/infra_helpers.MotoServer).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.kms.responses import KmsResponse
from moto.server import main


def _determine_resource(self: Any) -> str:
    try:
        key_id = json.loads(self.body or "{}").get("KeyId")
        if key_id:
            return str(self.kms_backend.describe_key(key_id).arn)
    except Exception:  # an unknown key: KMS answers NotFound after authorisation
        return "*"
    return "*"


KmsResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]

if __name__ == "__main__":
    main(sys.argv[1:])
