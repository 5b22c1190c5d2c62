"""The only module that talks to S3. It decides nothing; it turns botocore errors into ours.

Every method names the `s3://bucket/key` it touched in its errors, and every error carries a kind
(errors.StorageError) that callers decide on. Reads come in two shapes only: `get` (one object into
memory, optionally conditional on an ETag, optionally capped) and `download` (one pinned version
streamed into a new file, hashed on the way).
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import botocore.awsrequest
import botocore.config
import botocore.exceptions
import botocore.session
import botocore.utils
import urllib3.exceptions

from airflow_dag_publisher.errors import (
    ConflictError,
    DagPublisherError,
    ErrorKind,
    NotFoundError,
    StorageError,
    UsageError,
)
from airflow_dag_publisher.names import PACKAGE_RE

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

JOURNAL_ROOT = "_journal"
MANIFEST_NAME = "manifest.json"
JOURNAL_MS_DIGITS = 16  # the publisher's UTC epoch milliseconds, zero-padded: keys sort by time
RELEASES_ROOT = "_releases"
DOWNLOAD_CHUNK = 1 << 16  # small enough that a stop request is seen within one chunk
PRESIGNED_SECONDS = 300  # a direct GET's URL is used at once; this only bounds a copy of it in a log
_ERROR_CODE = re.compile(rb"<Code>([A-Za-z]+)</Code>")
log = logging.getLogger(__name__)
_LOGGED: set[str] = set()
_LOGGED_LOCK = threading.Lock()


# -- the key layout: every key is built and parsed here, and nowhere else ------------------------
#   <env>/<package>/manifest.json       the current release
#   <env>/<package>/dags/<path>         each file's uploads (versions pinned by the manifests)
#   <env>/<package>/dags.tar.gz         each release's archive (versions pinned by the manifests)
#   _journal/<env>/<ms>-<package>       an empty "package changed" hint per commit
#   <env>/_environment.json             the environment's settings: it exists when this key does

def manifest_key(env: str, package: str) -> str:
    return f"{env}/{package}/{MANIFEST_NAME}"


def parse_manifest_key(env: str, key: str) -> str | None:
    """`<env>/<package>/manifest.json` -> the package; None for any other key (or an invalid name)."""
    package, sep, name = key.removeprefix(f"{env}/").partition("/")
    if not key.startswith(f"{env}/") or not sep or name != MANIFEST_NAME or not PACKAGE_RE.match(package):
        return None
    return package


ENVIRONMENT_NAME = "_environment.json"


def environment_key(env: str) -> str:
    """The environment's declared settings (environments.py): an environment exists when this key does.
    Package names cannot start with `_`, and the reconciliation listing skips keys directly under `<env>/`."""
    return f"{env}/{ENVIRONMENT_NAME}"


def dag_key(env: str, package: str, path: str) -> str:
    return f"{env}/{package}/dags/{path}"


def archive_key(env: str, package: str) -> str:
    """The one archive key of a package: each release's archive is a version of it, pinned by the
    manifest. It starts with `<env>/<package>/d`, so the reconciliation listing (LISTING_DELIMITER)
    rolls it into the package's one common prefix with its DAG files."""
    return f"{env}/{package}/dags.tar.gz"


# The reconciliation listing's delimiter: under `<env>/`, everything of a package after `<package>/d`
# (its `dags/` files and its `dags.tar.gz` archive) rolls into one common prefix, so the listing
# holds two entries per package (that prefix and manifest.json) whatever the package holds.
LISTING_DELIMITER = "/d"


def release_key(env: str, package: str, release_id: str) -> str:
    """A release's manifest, kept under its id: written once, before the release's commit, never
    replaced, so any release is addressable by its id (a worker running a task of a DAG version
    fetches its release so, in one GET). Outside `<env>/` (as the journal), so the reconciliation
    listing never grows with the number of releases."""
    return f"{RELEASES_ROOT}/{env}/{package}/{release_id}.json"


MAX_LISTING_PAGES = 100_000  # a bound on any listing's loop; the reconciliation's is about one per 500 packages


def _resume_after(prefix: str, last: tuple[str, str | None], skipped: set[str]) -> str:
    """The StartAfter of the next page of the reconciliation listing: past the whole folder of a skipped
    package (`/` sorts just before `0`), past a common prefix (its last character + 1: `<pkg>/d` ->
    `<pkg>/e`, before manifest.json), or after the last key."""
    key, etag = last
    folder, slash, _ = key[len(prefix):].partition("/")
    if slash and folder in skipped:
        return f"{prefix}{folder}0"
    if etag is None:
        return key[:-1] + chr(ord(key[-1]) + 1)
    return key


def journal_prefix(env: str) -> str:
    return f"{JOURNAL_ROOT}/{env}/"


def journal_key(env: str, package: str, epoch_ms: int) -> str:
    return f"{journal_start_key(env, epoch_ms)}-{package}"


def journal_start_key(env: str, epoch_ms: int) -> str:
    """The StartAfter bound of a journal listing: the keys it returns are those of `epoch_ms` and later."""
    return f"{journal_prefix(env)}{max(epoch_ms, 0):0{JOURNAL_MS_DIGITS}d}"


def parse_journal_key(env: str, key: str) -> tuple[int, str] | None:
    """`_journal/<env>/<16-digit ms>-<package>` -> (ms, package); None for any other key."""
    prefix = journal_prefix(env)
    if not key.startswith(prefix):
        return None
    stamp, sep, package = key[len(prefix):].partition("-")
    if not sep or len(stamp) != JOURNAL_MS_DIGITS or not stamp.isdigit() or not PACKAGE_RE.match(package):
        return None
    return int(stamp), package


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    body: bytes
    version_id: str | None = None
    last_modified: float | None = None  # epoch seconds S3 wrote it (its clock, which no writer sets)


@dataclass(frozen=True)
class Fetched:
    """The answer to `get`: the object, or why there is none (`unchanged`: its ETag still matched)."""

    obj: StoredObject | None
    unchanged: bool = False

    @property
    def missing(self) -> bool:
        return self.obj is None and not self.unchanged


@dataclass(frozen=True)
class Download:
    sha256: str
    size: int


@dataclass(frozen=True)
class ManifestListing:
    """One package's manifest as a listing shows it (no body)."""

    package: str
    key: str
    etag: str


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    last_modified: str
    is_delete_marker: bool


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


_CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                               "TokenRefreshRequired", "InvalidClientTokenId"})


def transport_error(exc: Exception, service: str, doing: str) -> StorageError | None:
    """The errors any AWS call can meet before its service answers (no or partial credentials, a
    timeout, an unreachable endpoint) as the project's error; None for any other exception. `doing`
    ends the sentence "... to <doing>", e.g. "read s3://bucket/key"."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return StorageError(f"no AWS credentials found to {doing}: set AWS_ACCESS_KEY_ID/"
                            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role", kind=ErrorKind.CREDENTIALS)
    if isinstance(exc, botocore.exceptions.PartialCredentialsError):
        return StorageError(f"incomplete AWS credentials to {doing}: {exc}", kind=ErrorKind.CREDENTIALS)
    if isinstance(exc, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
        return StorageError(f"{service} timed out trying to {doing}", kind=ErrorKind.TIMEOUT)
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError)):
        return StorageError(f"cannot reach the {service} endpoint to {doing}: {exc}", kind=ErrorKind.NETWORK)
    return None


def translate(exc: Exception, bucket: str, key: str | None = None, action: str = "access") -> DagPublisherError:
    """Map a botocore/boto3 exception to the project's error (with its kind), naming what was touched."""
    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    transport = transport_error(exc, "S3", f"{action} {where}")
    if transport is not None:
        return transport
    if isinstance(exc, botocore.exceptions.ClientError):
        code, status = _code(exc), _status(exc)
        if code in _CREDENTIAL_CODES:
            return StorageError(f"AWS credentials rejected ({code}) trying to {action} {where}: check the access "
                                "key, secret and clock, or the role the credentials come from",
                                kind=ErrorKind.CREDENTIALS)
        if code == "NoSuchBucket":
            return StorageError(f"bucket s3://{bucket} does not exist", kind=ErrorKind.NO_BUCKET)
        if code in ("AccessDenied", "Forbidden", "403") or status == 403:
            return StorageError(f"access denied: cannot {action} {where}", kind=ErrorKind.ACCESS_DENIED)
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
            return ConflictError(f"{where} changed while we were writing it ({code or status})")
        if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound") or status == 404:
            return NotFoundError(f"{where} not found")
        if 400 <= status < 500:  # S3 refused the request as it was asked: no retry changes it
            return StorageError(f"S3 refused ({code or status}) to {action} {where}: {exc}", kind=ErrorKind.BAD_REQUEST)
        return StorageError(f"S3 error {code or status} trying to {action} {where}: {exc}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return StorageError(f"S3 client error trying to {action} {where}: {exc}")
    return StorageError(f"unexpected error trying to {action} {where}: {exc!r}")


AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)  # what an AWS call raises


def _error_code(body: bytes) -> bytes:
    m = _ERROR_CODE.search(body)
    return m.group(1) if m else b""


def custom_endpoint(session: botocore.session.Session) -> bool:
    """True when S3 requests go to an endpoint other than AWS's own (SeaweedFS, MinIO, LocalStack):
    the only case that needs path-style addressing. AWS itself is addressed virtual-host style."""
    if os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        return True
    try:
        config = session.get_scoped_config()
    except botocore.exceptions.BotoCoreError:
        return False
    s3_section = config.get("s3")
    return bool(config.get("endpoint_url") or (isinstance(s3_section, dict) and s3_section.get("endpoint_url")))


def _timestamp(value: str) -> datetime:
    """botocore's timestamp parser, fast for the two forms S3 sends: ISO 8601 in listings and HTTP
    dates in headers (botocore's own goes through dateutil: a tenth of a millisecond per response)."""
    try:
        if value[:4].isdigit():
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError):
        return botocore.utils.parse_timestamp(value)


def _log_once(what: str, message: str, *args: object) -> None:
    """Log a fast path that is off, once per process (every client is made the same way)."""
    with _LOGGED_LOCK:
        if what in _LOGGED:
            return
        _LOGGED.add(what)
    log.info(message, *args)


def _fast_timestamps(session: botocore.session.Session) -> None:
    """Give the session's response parsers the fast timestamp parser; botocore's own stays when the
    private component it lives in is not where this version of botocore is known to keep it."""
    try:
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        _log_once("timestamps", "botocore's response_parser_factory is not usable here (%s: %s): S3 timestamps are "
                  "parsed by botocore's own (slower) parser", type(exc).__name__, exc)


def direct_session(client: Any) -> Any | None:
    """The client's own HTTP session, through which `get` sends presigned GETs (botocore's private
    `client._endpoint.http_session`: its pool, timeouts, proxies and TLS settings); None, logged once,
    when this botocore does not keep it there, and every GET then goes through botocore itself."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if session is None or not callable(getattr(session, "send", None)):
        _log_once("direct", "botocore %s has no client._endpoint.http_session: the direct GET path is off, every S3 "
                  "GET goes through botocore's request pipeline (about twice the CPU time)", botocore.__version__)
        return None
    return session


def _http_time(value: str | None) -> float | None:
    """An HTTP date header as epoch seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # boto's own, most specific first


def check_endpoint(environ: Mapping[str, str] | None = None) -> None:
    """A configured S3 endpoint that is not an http(s) URL is a configuration error naming the variable
    (botocore would raise ValueError, i.e. "a bug", or fail each request)."""
    environ = os.environ if environ is None else environ
    for name in ENDPOINT_VARIABLES:
        value = environ.get(name)
        if not value:
            continue
        parts = urllib.parse.urlsplit(value.strip()) if value.isprintable() else None
        valid = (parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
                 and not any(c.isspace() for c in value.strip())
                 and (botocore.utils.is_valid_endpoint_url(value.strip())
                      or botocore.utils.is_valid_ipv6_endpoint_url(value.strip())))
        if not valid:
            raise UsageError(f"{name}={value!r} is not an S3 endpoint URL (expected http(s)://HOST[:PORT], e.g. "
                             "http://127.0.0.1:8333; unset it to use AWS's own)")


def _configured(session: botocore.session.Session, name: str, variable: str) -> bool:
    """The user set this botocore setting (its environment variable or the profile's config file)."""
    if os.environ.get(variable):
        return True
    try:
        return name in session.get_scoped_config()
    except botocore.exceptions.BotoCoreError:
        return False


def _log_attempts(client: Any, level: int) -> None:
    """Log every failed attempt botocore may retry (a timeout, a cut connection, a 5xx, throttling) at
    `level`, naming the operation and the attempt: the publisher's `-v` shows each retry."""
    retries = getattr(client.meta.config, "retries", None) or {}
    total = retries.get("total_max_attempts")

    def failed(attempts: int = 0, caught_exception: Exception | None = None, response: Any = None,
               operation: Any = None, **_: Any) -> None:
        if caught_exception is not None:
            why = f"{type(caught_exception).__name__}: {caught_exception}"
        else:
            status = int(response[0].status_code) if response else 0
            code = str((response[1] or {}).get("Error", {}).get("Code", "")) if response else ""
            if status < 500 and status != 429 and code not in _RETRIED_CODES:
                return None
            why = f"HTTP {status} {code}".rstrip()
        log.log(level, "S3 %s: attempt %d%s failed (%s)", getattr(operation, "name", "request"), attempts,
                f" of {total}" if total else "", why)
        return None

    client.meta.events.register("needs-retry.s3", failed)


_RETRIED_CODES = frozenset({"RequestTimeout", "Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded"})


def make_client(*, max_pool: int = 32, connect_timeout: float = 5, read_timeout: float = 30,
                attempts: int = 3, retry_log_level: int = logging.DEBUG) -> S3Client:
    """An S3 client; endpoint and credentials come from boto3's chain (AWS_ENDPOINT_URL etc.). Made
    with botocore's own session: boto3's adds nothing this module uses and costs a pod's start
    (importing boto3 imports s3transfer) about 0.2 s. `attempts`: retries after the first attempt
    (botocore's client `max_attempts`), and retry mode `standard`, unless boto's own settings say
    otherwise (AWS_MAX_ATTEMPTS, counting every attempt, and AWS_RETRY_MODE, or the profile's
    max_attempts and retry_mode). Each failed attempt is logged at `retry_log_level`."""
    check_endpoint()
    try:
        session = botocore.session.get_session()
        _fast_timestamps(session)
        retries: Any = {}  # botocore.config.Config's retries dict
        if session.get_config_variable("max_attempts") is None:
            retries["max_attempts"] = attempts
        if not _configured(session, "retry_mode", "AWS_RETRY_MODE"):
            retries["mode"] = "standard"
        config = botocore.config.Config(
            max_pool_connections=max_pool,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries or None,
            s3={"addressing_style": "path" if custom_endpoint(session) else "auto"},
            signature_version="s3v4",  # presigned URLs too (botocore presigns with SigV2 otherwise)
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = cast("S3Client", session.create_client("s3", config=config))
    except AWS_ERRORS as exc:
        raise UsageError(f"cannot configure the S3 client: {exc}") from None
    except ValueError as exc:  # botocore's word for an endpoint it cannot use (e.g. from a config file)
        raise UsageError(f"cannot configure the S3 client: {exc} (the endpoint comes from AWS_ENDPOINT_URL, "
                         "AWS_ENDPOINT_URL_S3 or the profile's endpoint_url)") from None
    _log_attempts(client, retry_log_level)
    return client


class Storage:
    """S3 operations on one bucket. Thread-safe (boto3 clients are). Counts the requests it sends.
    Whether unversioned and pinned GETs take the direct path is decided once, here (`direct`)."""

    def __init__(self, bucket: str, client: S3Client | None = None, *, direct: bool = True) -> None:
        """`direct=False`: every GET goes through botocore too (its retries, their count and their log)."""
        self.bucket = bucket
        self.client = client or make_client()
        self._http = direct_session(self.client) if direct else None
        self._lock = threading.Lock()
        self._requests = 0
        self.client.meta.events.register("before-send.s3.*", self._count)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self._requests += 1

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def direct(self) -> bool:
        """GETs go out as presigned URLs through the client's own HTTP session (see `_direct_get`)."""
        return self._http is not None

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    # -- bucket ---------------------------------------------------------------------------
    def require_versioning(self) -> None:
        try:
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, action="read the versioning of") from None
        if status != "Enabled":
            raise UsageError(f"bucket s3://{self.bucket} has versioning {status or 'never enabled'}; "
                             "the publisher needs versioning Enabled (history and rollback live there)")

    # -- reads ----------------------------------------------------------------------------
    def get(self, key: str, *, version_id: str | None = None, if_none_match: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        """GET a key (or one pinned version). `missing` when the key does not exist; `unchanged` when
        its ETag still is `if_none_match` (304). With `max_bytes`, reads at most max_bytes + 1 bytes,
        so a caller can refuse an oversized object without holding all of it. A pinned version that
        does not exist raises NotFoundError: a pin is a promise."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        if if_none_match:
            kwargs["IfNoneMatch"] = if_none_match
        where = f"{key}?versionId={version_id}" if version_id else key
        direct = self._direct_get(key, version_id, if_none_match, max_bytes)
        if direct is not None:
            return direct
        try:
            resp = self.client.get_object(**kwargs)
            body = resp["Body"].read() if max_bytes is None else resp["Body"].read(max_bytes + 1)
            resp["Body"].close()
        except botocore.exceptions.ClientError as exc:
            if _status(exc) == 304 or _code(exc) in ("304", "NotModified"):
                return Fetched(None, unchanged=True)
            err = translate(exc, self.bucket, where, "read")
            if isinstance(err, NotFoundError) and not version_id:
                return Fetched(None)
            raise err from None
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, where, "read") from None
        written = resp.get("LastModified")
        return Fetched(StoredObject(key=key, etag=resp.get("ETag", ""), body=body, version_id=resp.get("VersionId"),
                                    last_modified=written.timestamp() if isinstance(written, datetime) else None))

    def _direct_get(self, key: str, version_id: str | None, if_none_match: str | None,
                    max_bytes: int | None) -> Fetched | None:
        """`get` in half the client's CPU time, for the answers that need none of botocore's
        handling: a URL botocore presigns (its endpoint, addressing and credential rules) sent through
        the client's own HTTP session (its pool, timeouts, proxies and TLS settings). A cold sync is
        two GETs per package and botocore's request pipeline was the largest part of its CPU time.
        Returns the object, `unchanged` (304) or `missing` (NoSuchKey, unpinned); raises our error for
        an answer no retry can change (403: rejected credentials, access denied; a missing bucket or
        pinned version), with the kind botocore's would have; None for every other answer or failure
        (a 5xx, a cut connection), which the caller then sends through botocore: its retries, its errors."""
        session = self._http
        if session is None:
            return None
        params = {"Bucket": self.bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        try:
            resp = self._send_presigned(session, "get_object", params,
                                        {"If-None-Match": if_none_match} if if_none_match else {})
        except AWS_ERRORS:
            return None
        try:
            if resp.status_code == 200:
                body = resp.raw.read() if max_bytes is None else resp.raw.read(max_bytes + 1)
                return Fetched(StoredObject(key=key, etag=resp.headers.get("ETag", ""), body=body,
                                            version_id=resp.headers.get("x-amz-version-id"),
                                            last_modified=_http_time(resp.headers.get("Last-Modified"))))
            detail = resp.raw.read(4096)  # 304: nothing; an error: its XML document
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            return None  # a connection cut mid-body: asked again through botocore
        finally:
            if resp.raw.connection is not None:  # not read to its end: the connection is not reused
                resp.raw.close()
        if resp.status_code == 304:
            return Fetched(None, unchanged=True)
        code = _error_code(detail).decode("ascii")
        if resp.status_code == 404 and code in ("NoSuchKey", "NoSuchVersion"):
            if version_id:
                raise NotFoundError(f"s3://{self.bucket}/{key}?versionId={version_id} not found")
            return Fetched(None)
        if resp.status_code == 403 or (resp.status_code == 404 and code == "NoSuchBucket"):
            error = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": resp.status_code}}
            where = f"{key}?versionId={version_id}" if version_id else key
            raise translate(botocore.exceptions.ClientError(error, "GetObject"),  # type: ignore[arg-type]
                            self.bucket, where, "read")
        return None

    def _send_presigned(self, session: Any, operation: str, params: dict[str, Any],
                        headers: dict[str, str] | None = None) -> Any:
        """One GET of `operation` as a URL botocore presigns (its endpoint, addressing and credential
        rules), sent once through the client's own HTTP session, body unread. Raises AWS_ERRORS."""
        url = self.client.generate_presigned_url(operation, Params=params, ExpiresIn=PRESIGNED_SECONDS)
        request = botocore.awsrequest.AWSRequest("GET", url, headers=headers or {}, stream_output=True).prepare()
        self._count()
        return session.send(request)

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int,
                 check: Callable[[], None] | None = None) -> Download:
        """Stream one pinned version of `key` into the new file `dest`, hashing as it goes. Stops
        reading after max_bytes + 1 bytes (the caller compares size and sha256 with its manifest).
        `check` runs before every chunk; whatever it raises (a deadline, a stop request) aborts the
        download and propagates unchanged."""
        where = f"{key}?versionId={version_id}"
        digest = hashlib.sha256()
        size = 0
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            body = resp["Body"]
            try:
                with open(dest, "xb") as fh:
                    while size <= max_bytes:
                        if check is not None:
                            check()
                        block = body.read(min(DOWNLOAD_CHUNK, max_bytes + 1 - size))
                        if not block:
                            break
                        digest.update(block)
                        fh.write(block)
                        size += len(block)
            finally:
                body.close()
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, where, "download") from None
        return Download(sha256=digest.hexdigest(), size=size)

    def head(self, key: str, *, version_id: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            return dict(self.client.head_object(**kwargs))
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, key, "read") from None

    def list_manifests(self, env: str, *, page_size: int | None = None) -> list[ManifestListing]:
        """Every package's manifest.json under `<env>/`, via the delimiter listing that rolls each
        package's DAG files and archive into one common prefix (LISTING_DELIMITER): two entries per
        package, whatever it holds. Its cost does not grow with what a package writes besides: the pages
        are asked for with StartAfter, and a package folder holding any other key (not the layout's)
        is skipped from that key on (StartAfter `<env>/<folder>0`, just past every key of the folder),
        costing at most one more page. Such a package whose manifest.json the skip passed over is
        listed with an empty ETag, so its manifest is read (conditionally) instead."""
        prefix = f"{env}/"
        found: dict[str, ManifestListing] = {}
        skipped: set[str] = set()  # folders holding keys the layout does not define
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": LISTING_DELIMITER,
                                  **({"MaxKeys": page_size} if page_size else {})}
        try:
            for _ in range(MAX_LISTING_PAGES):
                page = self.client.list_objects_v2(**kwargs)
                entries = sorted([(o["Key"], str(o.get("ETag", ""))) for o in page.get("Contents", [])]
                                 + [(c["Prefix"], None) for c in page.get("CommonPrefixes", [])])
                for key, etag in entries:
                    package = parse_manifest_key(env, key) if etag is not None else None
                    if package is not None:
                        found[package] = ManifestListing(package=package, key=key, etag=etag or "")
                        continue
                    folder, slash, name = key[len(prefix):].partition("/")
                    if slash and not (etag is None and name == LISTING_DELIMITER[1:]):
                        skipped.add(folder)  # neither the manifest nor the `d` prefix of dags/ and dags.tar.gz
                if not page.get("IsTruncated") or not entries:
                    break
                kwargs["StartAfter"] = _resume_after(prefix, entries[-1], skipped)
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, prefix, "list") from None
        unlisted = sorted(f for f in skipped - set(found) if PACKAGE_RE.match(f))
        return [*found.values(), *(ManifestListing(f, manifest_key(env, f), "") for f in unlisted)]

    def list_top_folders(self, max_keys: int = 1000) -> list[str]:
        """The bucket's top-level "folders" (`<name>/` common prefixes, without the slash): one
        ListObjectsV2 with Delimiter="/", however many objects the bucket holds."""
        try:
            resp = self.client.list_objects_v2(Bucket=self.bucket, Delimiter="/", MaxKeys=max_keys)
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, None, "list") from None
        return [p["Prefix"].rstrip("/") for p in resp.get("CommonPrefixes", []) if p.get("Prefix")]

    def answers(self, env: str) -> bool:
        """One request, never retried: does the bucket answer again (a listing of at most one journal
        key)? The agent's probe while it backs off; botocore's retries would add up to 3 s of sleeps to a
        probe sent just before the server returned. Any failure or error answer is False."""
        params = {"Bucket": self.bucket, "Prefix": journal_prefix(env), "MaxKeys": 1}
        session = self._http
        if session is None:  # botocore's pipeline, retries and all
            try:
                self.client.list_objects_v2(**params)  # type: ignore[arg-type]
            except AWS_ERRORS:
                return False
            return True
        try:
            resp = self._send_presigned(session, "list_objects_v2", params)
        except AWS_ERRORS:
            return False
        try:
            resp.raw.read(64 * 1024)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            return False
        finally:
            resp.raw.close()
        return bool(resp.status_code == 200)

    def list_journal(self, env: str, start_after: str | None, max_keys: int = 1000) -> list[str]:
        """Journal keys after `start_after`, in key order; one request when nothing changed."""
        prefix = journal_prefix(env)
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for _ in range(100_000):
                resp = self.client.list_objects_v2(**kwargs)
                keys.extend(obj["Key"] for obj in resp.get("Contents", []))
                if not resp.get("IsTruncated"):
                    break
                kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, prefix, "list") from None
        return keys

    def list_versions(self, key: str) -> Iterator[ObjectVersion]:
        """Versions of exactly `key`, newest first (as S3 returns them)."""
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=key
            ):
                entries: list[tuple[Any, bool]] = [(v, False) for v in page.get("Versions", [])]
                entries += [(d, True) for d in page.get("DeleteMarkers", [])]
                entries.sort(key=lambda e: e[0]["LastModified"], reverse=True)
                for v, is_marker in entries:
                    if v["Key"] != key:
                        continue
                    yield ObjectVersion(key=v["Key"], version_id=v.get("VersionId", "null"),
                                        last_modified=v["LastModified"].isoformat(), is_delete_marker=is_marker)
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, key, "list the versions of") from None

    # -- writes ---------------------------------------------------------------------------
    def put(self, key: str, body: bytes, *, content_type: str = "application/octet-stream",
            if_match: str | None = None, if_none_match: str | None = None) -> StoredObject:
        """PUT a key; conditional when asked (a lost condition raises ConflictError)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body, "ContentType": content_type}
        if if_match:
            kwargs["IfMatch"] = if_match
        if if_none_match:
            kwargs["IfNoneMatch"] = if_none_match
        try:
            resp = self.client.put_object(**kwargs)
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, key, "write") from None
        return StoredObject(key=key, etag=resp.get("ETag", ""), body=b"", version_id=resp.get("VersionId"))

    def copy_version(self, key: str, version_id: str, *, source_key: str | None = None,
                     source_bucket: str | None = None) -> StoredObject:
        """Server-side copy of one pinned version (of `source_key`, default `key` itself, in
        `source_bucket`, default this bucket) to `key`."""
        source: CopySourceTypeDef = {"Bucket": source_bucket or self.bucket, "Key": source_key or key,
                                     "VersionId": version_id}
        origin = f"s3://{source['Bucket']}/{source_key or key}"
        try:
            resp = self.client.copy_object(Bucket=self.bucket, Key=key, CopySource=source)
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, key, f"copy version {version_id} of {origin} to") from None
        return StoredObject(key=key, etag=resp.get("CopyObjectResult", {}).get("ETag", ""), body=b"",
                            version_id=resp.get("VersionId"))

    def delete(self, key: str) -> None:
        """Delete the live object (a delete marker on a versioned bucket; versions stay)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            raise translate(exc, self.bucket, key, "delete") from None
