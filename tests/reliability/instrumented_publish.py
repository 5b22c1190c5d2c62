"""`airflow-dag-publisher` with every S3 write announced on stdout, before and after it runs, so a
test can SIGKILL the publisher at an exact step (mid-upload, just before the commit, between the
commit and the journal entry, during cleanup). Run: python -m tests.reliability.instrumented_publish ARGS"""

from __future__ import annotations

import sys
from typing import Any

from airflow_dag_publisher import storage
from airflow_dag_publisher.cli.main import main

_put = storage.Storage.put
_delete = storage.Storage.delete


def _announce(step: str, key: str) -> None:
    sys.stdout.write(f"{step} {key}\n")
    sys.stdout.flush()


def put(self: storage.Storage, key: str, body: bytes, **kwargs: Any) -> storage.StoredObject:
    _announce("before-put", key)
    result = _put(self, key, body, **kwargs)
    _announce("after-put", key)
    return result


def delete(self: storage.Storage, key: str) -> None:
    _announce("before-delete", key)
    _delete(self, key)
    _announce("after-delete", key)


storage.Storage.put = put  # type: ignore[method-assign]
storage.Storage.delete = delete  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
