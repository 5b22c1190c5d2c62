"""The only module that talks to AWS KMS: a signer over an asymmetric KMS key (`kms:GetPublicKey`
once, then `kms:Sign` with MessageType=RAW per release). It turns botocore errors into ours, each
naming the key, with a kind a caller can decide on (errors.StorageError)."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from airflow_dag_publisher.errors import DagPublisherError, ErrorKind, StorageError, UsageError
from airflow_dag_publisher.manifest import Signature
from airflow_dag_publisher.signing import ALGORITHMS, PublicKey, algorithm_for
from airflow_dag_publisher.storage import AWS_ERRORS, transport_error

_CREDENTIALS = frozenset({"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                          "InvalidClientTokenId", "ExpiredToken", "IncompleteSignature", "MissingAuthenticationToken"})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "403"})
_UNUSABLE = frozenset({"DisabledException", "KMSInvalidStateException", "InvalidKeyUsageException",
                       "UnsupportedOperationException", "KeyUnavailableException"})


def translate(exc: Exception, key: str, action: str) -> DagPublisherError:
    """A botocore/boto3 exception of a KMS call on `key` as the project's error."""
    where = f"KMS key {key}"
    transport = transport_error(exc, "KMS", f"{action} with {where}")
    if transport is not None:
        return transport
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return UsageError(f"no AWS region to {action} with {where}: set AWS_REGION or give the key's ARN")
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if code in _CREDENTIALS:
            return StorageError(f"AWS credentials rejected ({code}) trying to {action} with {where}",
                                kind=ErrorKind.CREDENTIALS)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _DENIED or (status == 403 and code not in _CREDENTIALS):
            return StorageError(f"access denied: this identity may not {action} with {where} (its CI role may use "
                                "only its own package's signing key)", kind=ErrorKind.ACCESS_DENIED)
        if code == "NotFoundException":
            return StorageError(f"{where} does not exist (or is in another region or account)",
                                kind=ErrorKind.NOT_FOUND)
        if code in _UNUSABLE:
            return StorageError(f"{where} cannot {action}: {code}: {message}", kind=ErrorKind.SIGNING_KEY)
        return StorageError(f"KMS error {code} trying to {action} with {where}: {message}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return StorageError(f"KMS client error trying to {action} with {where}: {exc}")
    return StorageError(f"unexpected error trying to {action} with {where}: {exc!r}")


def make_kms_client(*, connect_timeout: float = 5, read_timeout: float = 10, attempts: int = 3) -> Any:
    """A KMS client; region, endpoint (AWS_ENDPOINT_URL_KMS) and credentials from boto3's chain."""
    config = botocore.config.Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                                    retries={"max_attempts": attempts, "mode": "standard"})
    return boto3.session.Session().client("kms", config=config)


class KmsSigner:
    """Signs with an asymmetric KMS key (key usage SIGN_VERIFY). `key` is what the user gave (an id,
    ARN or alias); the key id recorded in a signature is the key ARN KMS answers with."""

    def __init__(self, key: str, client: Any = None) -> None:
        self.key = key
        self._client = client
        self._public: PublicKey | None = None
        self._algorithm = ""

    @property
    def description(self) -> str:
        return f"KMS key {self.key}"

    def _kms(self, action: str) -> Any:
        if self._client is None:
            try:
                self._client = make_kms_client()
            except AWS_ERRORS as exc:
                raise translate(exc, self.key, action) from None
        return self._client

    def public_key(self) -> PublicKey:
        if self._public is None:
            try:
                answer = self._kms("read the public key").get_public_key(KeyId=self.key)
            except AWS_ERRORS as exc:
                raise translate(exc, self.key, "read the public key (kms:GetPublicKey)") from None
            if answer.get("KeyUsage") != "SIGN_VERIFY":
                raise UsageError(f"KMS key {self.key} has key usage {answer.get('KeyUsage')}, not SIGN_VERIFY: "
                                 "create an asymmetric signing key (e.g. key spec ECC_NIST_P256)")
            key = serialization.load_der_public_key(answer["PublicKey"])
            if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
                raise UsageError(f"KMS key {self.key}: {type(key).__name__} keys are not supported")
            try:
                algorithm = algorithm_for(key)
            except UsageError as exc:
                raise UsageError(f"KMS key {self.key}: {exc}") from None
            offered = answer.get("SigningAlgorithms") or list(ALGORITHMS)
            if algorithm not in offered:
                raise UsageError(f"KMS key {self.key} does not offer {algorithm} (it offers {', '.join(offered)})")
            self._public, self._algorithm = key, algorithm
        return self._public

    def sign(self, message: bytes) -> Signature:
        self.public_key()
        try:
            answer = self._kms("sign").sign(KeyId=self.key, Message=message, MessageType="RAW",
                                            SigningAlgorithm=self._algorithm)
        except AWS_ERRORS as exc:
            raise translate(exc, self.key, "sign (kms:Sign)") from None
        return Signature(str(answer.get("KeyId") or self.key), self._algorithm,
                         base64.b64encode(answer["Signature"]).decode("ascii"))
