"""The one exception hierarchy of the project, the closed set of error kinds, and the one function
that maps an exception to its exit code.

Exit codes, everywhere: 0 success; 1 the work was refused for a reason the message explains;
2 usage or configuration error; 3 storage or network error (worth retrying); 4 an unexpected
internal error, a bug (never worth retrying); 130 interrupted.

Every error carries a `kind` (ErrorKind): a short, stable word that code decides on (a metric
label, a JSON error's `kind`, a retry), so that nothing ever searches an error's message text. A
subclass sets its default kind; a raiser may give a more precise one
(`ManifestError(..., kind=ErrorKind.UNSAFE_PATH)`). The exit code is the kind's, written beside it:
changing what a kind exits with is one line here, and `exit_code` is what every entry point asks.
"""

from __future__ import annotations

import enum
from typing import Any

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


class ErrorKind(str, enum.Enum):
    """Every kind an error of this project can have (the JSON error's `kind`, the agent's refusal
    `reason`), each with its one exit code. A str, so that it prints, compares and serialises as its
    word."""

    exit_code: int

    def __new__(cls, word: str, exit_code: int) -> ErrorKind:
        kind = str.__new__(cls, word)
        kind._value_ = word
        kind.exit_code = exit_code
        return kind

    __str__ = str.__str__

    # refused (exit 1): the message says why
    REFUSED = ("refused", EXIT_REFUSED)
    VALIDATION = ("validation", EXIT_REFUSED)          # the release's files failed validation
    GUARDRAIL = ("guardrail", EXIT_REFUSED)            # --allow-empty, --max-delete
    CONFLICT = ("conflict", EXIT_REFUSED)              # a conditional write lost a race
    DAG_ID_CONFLICT = ("dag_id_conflict", EXIT_REFUSED)  # a dag_id another package owns
    IMAGE_MISMATCH = ("image_mismatch", EXIT_REFUSED)  # a task does not run the image --image names
    RETIRED = ("retired", EXIT_REFUSED)                # a retirement tombstone cannot be promoted
    NO_RELEASE = ("no_release", EXIT_REFUSED)          # the release asked for does not exist
    IMPORT_ERROR = ("import_error", EXIT_REFUSED)      # --wait: Airflow could not import the release
    INVALID = ("invalid", EXIT_REFUSED)                # a manifest fails its checks
    INVALID_JSON = ("invalid_json", EXIT_REFUSED)
    SCHEMA = ("schema", EXIT_REFUSED)
    UNSAFE_PATH = ("unsafe_path", EXIT_REFUSED)        # a path that leaves the release or cannot be laid out
    TOO_LARGE = ("too_large", EXIT_REFUSED)
    CHECKSUM = ("checksum", EXIT_REFUSED)              # bytes that are not the ones the release pins
    MISSING_VERSION = ("missing_version", EXIT_REFUSED)  # a pinned object version that does not exist
    SIGNATURE = ("signature", EXIT_REFUSED)            # unsigned, or not signed by a trusted key
    NOT_OWNED = ("not_owned", EXIT_REFUSED)            # a DAGs-folder entry the agent did not make
    NOT_GENERATED = ("not_generated", EXIT_REFUSED)    # a spec-only package's files are not the generator's
    REPLAY = ("replay", EXIT_REFUSED)                  # an older release than the one applied, or one re-written later
    UNREADABLE = ("unreadable", EXIT_REFUSED)          # S3 will not serve an object a release pins (a malformed pin, an
                                                       # object the agent cannot decrypt): that release's fault
    # usage or configuration (exit 2)
    USAGE = ("usage", EXIT_USAGE)
    AIRFLOW_AUTH = ("airflow_auth", EXIT_USAGE)        # Airflow's API refused the credentials
    ENVIRONMENT = ("environment", EXIT_USAGE)          # an environment's _environment.json is not readable
    NO_ENVIRONMENT = ("no_environment", EXIT_USAGE)    # no <env>/_environment.json: a typo never heals
    NO_BUCKET = ("no_bucket", EXIT_USAGE)              # NoSuchBucket: a typo never heals either, no retry
    UNKNOWN_RELEASE = ("unknown_release", EXIT_USAGE)  # a release id given that the package's history lacks
    SIGNATURE_REQUIRED = ("signature_required", EXIT_USAGE)  # an unsigned commit where signatures are required
    AIRFLOW_REDIRECT = ("airflow_redirect", EXIT_USAGE)  # Airflow's API redirected to another origin
    # storage, network and local faults (exit 3): worth retrying
    STORAGE = ("storage", EXIT_STORAGE)
    CREDENTIALS = ("credentials", EXIT_STORAGE)        # missing, rejected or expired AWS credentials
    ACCESS_DENIED = ("access_denied", EXIT_STORAGE)
    NETWORK = ("network", EXIT_STORAGE)
    TIMEOUT = ("timeout", EXIT_STORAGE)
    NOT_FOUND = ("not_found", EXIT_STORAGE)            # a key, version or KMS key that should exist does not
    BAD_REQUEST = ("bad_request", EXIT_STORAGE)        # S3 refused the request itself (400: a malformed version id)
    SIGNING_KEY = ("signing_key", EXIT_STORAGE)        # a KMS key that cannot sign (disabled, wrong usage)
    ABORTED = ("aborted", EXIT_STORAGE)                # the agent's cycle ran out of time or is stopping
    LOCAL_STORAGE = ("local_storage", EXIT_STORAGE)    # this machine's disk: full, read-only, denied, failing
    AIRFLOW_API = ("airflow_api", EXIT_STORAGE)        # Airflow's API answered something unreadable
    AIRFLOW_UNREACHABLE = ("airflow_unreachable", EXIT_STORAGE)
    WAIT_TIMEOUT = ("wait_timeout", EXIT_STORAGE)      # --wait: Airflow did not confirm the release in time
    # a bug (exit 4), and Ctrl-C (130)
    INTERNAL = ("internal", EXIT_INTERNAL)
    INTERRUPTED = ("interrupted", EXIT_INTERRUPTED)


# The exit code of every kind (each kind's own, above).
EXIT_CODES: dict[ErrorKind, int] = {kind: kind.exit_code for kind in ErrorKind}


class DagPublisherError(Exception):
    """Base class: a failure the user can act on. The message names the culprit. `details`: what
    the command did before it failed (e.g. the release it committed), for a JSON error."""

    kind = ErrorKind.REFUSED
    details: Any = None

    def __init__(self, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            if not isinstance(kind, ErrorKind):  # mypy refuses it already; a caller without types too
                raise ValueError(f"{kind!r} is not an ErrorKind")
            self.kind = kind


class RefusedError(DagPublisherError):
    """The work was refused: validation failure, guardrail, lost race, tombstone rollback."""


class UsageError(DagPublisherError):
    """Bad names, options or configuration (also a bucket without versioning)."""

    kind = ErrorKind.USAGE


class StorageError(DagPublisherError):
    """S3 or the network failed: no credentials, no bucket, access denied, timeouts (the kinds
    that exit 3)."""

    kind = ErrorKind.STORAGE


class ConflictError(RefusedError):
    """A conditional write lost a race (the manifest changed under us)."""

    kind = ErrorKind.CONFLICT


class NotFoundError(StorageError):
    """A key or version that should exist does not."""

    kind = ErrorKind.NOT_FOUND


class LocalStorageError(StorageError):
    """This machine's file system failed the agent (a full or read-only volume, a denied or failing
    disk): not the release's fault, so it is retried, never held against the release."""

    kind = ErrorKind.LOCAL_STORAGE


class ManifestError(RefusedError):
    """A manifest does not parse, has an unknown schema version, or fails its checks
    (kinds `invalid_json`, `schema`, `unsafe_path`, `too_large`, `checksum`, `signature`, `invalid`)."""

    kind = ErrorKind.INVALID


class VerificationError(RefusedError):
    """Bytes do not match what their release pins (sha256 or size), or a pinned version is missing
    (kinds `checksum`, `too_large`, `missing_version`)."""

    kind = ErrorKind.CHECKSUM


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind of any exception: an error of ours says it; Ctrl-C is `interrupted`; anything else
    is a bug."""
    if isinstance(exc, DagPublisherError):
        return exc.kind
    if isinstance(exc, KeyboardInterrupt):
        return ErrorKind.INTERRUPTED
    return ErrorKind.INTERNAL


def exit_code(exc: BaseException | ErrorKind) -> int:
    """The exit code of an exception (or of a kind): the one mapping every entry point uses."""
    return (exc if isinstance(exc, ErrorKind) else kind_of(exc)).exit_code
