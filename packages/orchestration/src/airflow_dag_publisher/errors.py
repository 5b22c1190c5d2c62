"""The one exception hierarchy of the project, and the exit code each maps to.

Exit codes, everywhere: 0 success; 1 the work was refused for a reason the message explains;
2 usage or configuration error; 3 storage or network error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3


class DagPublisherError(Exception):
    """Base class: a failure the user can act on. The message names the culprit."""

    exit_code = EXIT_REFUSED


class RefusedError(DagPublisherError):
    """The work was refused: validation failure, guardrail, lost race, tombstone rollback."""

    exit_code = EXIT_REFUSED


class UsageError(DagPublisherError):
    """Bad names, options or configuration (also a bucket without versioning)."""

    exit_code = EXIT_USAGE


class StorageError(DagPublisherError):
    """S3 or the network failed: no credentials, no bucket, access denied, timeouts."""

    exit_code = EXIT_STORAGE


class ConflictError(RefusedError):
    """A conditional write lost a race (the manifest changed under us)."""


class NotFoundError(StorageError):
    """A key or version that should exist does not."""


class ManifestError(RefusedError):
    """A manifest does not parse, has an unknown schema version, or fails its checks."""
