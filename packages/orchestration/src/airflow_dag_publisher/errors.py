"""The one exception hierarchy of the project, the exit code each maps to, and its machine-readable kind.

Exit codes, everywhere: 0 success; 1 the work was refused for a reason the message explains;
2 usage or configuration error; 3 storage or network error (worth retrying); 4 an unexpected
internal error, a bug (never worth retrying).

Every error carries a `kind`: a short, stable word that code decides on (a metric label, a JSON
error's `kind`, a retry), so that nothing ever searches an error's message text. A subclass sets
its default kind; a raiser may give a more precise one (`ManifestError(..., kind="unsafe_path")`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


class DagPublisherError(Exception):
    """Base class: a failure the user can act on. The message names the culprit."""

    exit_code = EXIT_REFUSED
    kind = "refused"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class RefusedError(DagPublisherError):
    """The work was refused: validation failure, guardrail, lost race, tombstone rollback."""


class UsageError(DagPublisherError):
    """Bad names, options or configuration (also a bucket without versioning)."""

    exit_code = EXIT_USAGE
    kind = "usage"


class StorageError(DagPublisherError):
    """S3 or the network failed: no credentials, no bucket, access denied, timeouts.

    Kinds: `credentials` (missing, rejected or expired), `access_denied`, `no_bucket`, `network`,
    `timeout`, `not_found`, `storage` (anything else S3 answered)."""

    exit_code = EXIT_STORAGE
    kind = "storage"


class ConflictError(RefusedError):
    """A conditional write lost a race (the manifest changed under us)."""

    kind = "conflict"


class NotFoundError(StorageError):
    """A key or version that should exist does not."""

    kind = "not_found"


class ManifestError(RefusedError):
    """A manifest does not parse, has an unknown schema version, or fails its checks.

    Kinds: `invalid_json`, `schema`, `unsafe_path`, `too_large`, `checksum`, `invalid`."""

    kind = "invalid"


class VerificationError(RefusedError):
    """Bytes do not match what their release pins (sha256 or size), or a pinned version is missing.

    Kinds: `checksum`, `too_large`, `missing_version`."""

    kind = "checksum"

