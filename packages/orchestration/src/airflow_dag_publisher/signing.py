"""Signed releases: the canonical statement a release's signature covers, the signers that make
signatures (the Signer protocol; a PEM private key for local use here, a KMS key in kms.py) and their
verification against trusted public keys. Which signer `--signing-key` names is the CLI's
(cli/common.py). docs/airflow/README.md, "Signed releases".

The statement is small and fixed: the release's env, package, release_id, previous_release_id,
content_digest and the sha256 of the canonical manifest without its `signature` (`canonical_manifest`:
the parsed model's JSON with sorted keys and no spaces, so the publisher and every agent compute the
same bytes from the same release). It is signed as a RAW message (KMS caps RAW messages at 4,096
bytes; the statement is under 1,000). Key rotation is two keys trusted at once: verification tries
every trusted key of the package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from airflow_dag_publisher.errors import ErrorKind, RefusedError, UsageError
from airflow_dag_publisher.manifest import ReleaseManifest, Signature

STATEMENT_TYPE = "airflow-dag-publisher/release-statement/v1"
KMS_RAW_MESSAGE_LIMIT = 4096
MIN_RSA_BITS = 2048
ECDSA_SHA_256 = "ECDSA_SHA_256"
ECDSA_SHA_384 = "ECDSA_SHA_384"
RSA_PKCS1_SHA_256 = "RSASSA_PKCS1_V1_5_SHA_256"
ALGORITHMS = (ECDSA_SHA_256, ECDSA_SHA_384, RSA_PKCS1_SHA_256)  # KMS's names, preferred first
_CURVES = {"secp256r1": ECDSA_SHA_256, "secp384r1": ECDSA_SHA_384}

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_manifest(manifest: ReleaseManifest) -> bytes:
    """The manifest without its signature, as sorted compact JSON of the parsed model."""
    doc = manifest.to_dict()
    doc.pop("signature", None)
    return _canonical_json(doc)


def statement(manifest: ReleaseManifest) -> bytes:
    """The bytes a release's signature covers."""
    return _canonical_json({
        "type": STATEMENT_TYPE,
        "env": manifest.env,
        "package": manifest.package,
        "release_id": manifest.release_id,
        "previous_release_id": manifest.previous_release_id,
        "content_digest": manifest.content_digest,
        "manifest_sha256": hashlib.sha256(canonical_manifest(manifest)).hexdigest(),
    })


def fingerprint(key: PublicKey) -> str:
    """`sha256:<hex>` of the key's SubjectPublicKeyInfo (DER): how a PEM key is named."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def algorithm_for(key: PublicKey) -> str:
    """The signing algorithm this project uses with a key, or UsageError for a key it does not take."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise UsageError(f"EC curve {key.curve.name} is not supported (use NIST P-256 or P-384)")
        return _CURVES[key.curve.name]
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise UsageError(f"an RSA key of {key.key_size} bits is too small (at least {MIN_RSA_BITS})")
        return RSA_PKCS1_SHA_256
    raise UsageError(f"{type(key).__name__} keys are not supported (use EC P-256/P-384 or RSA)")


def verifies(key: PublicKey, algorithm: str, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `key`'s signature of `message` with `algorithm` (KMS's names)."""
    try:
        if algorithm in (ECDSA_SHA_256, ECDSA_SHA_384) and isinstance(key, ec.EllipticCurvePublicKey):
            digest = hashes.SHA256() if algorithm == ECDSA_SHA_256 else hashes.SHA384()
            key.verify(signature, message, ec.ECDSA(digest))
            return True
        if algorithm == RSA_PKCS1_SHA_256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


@dataclass(frozen=True)
class TrustedKey:
    """A public key the agent trusts for one package."""

    key: PublicKey
    fingerprint: str

    @classmethod
    def from_key(cls, key: PublicKey) -> TrustedKey:
        algorithm_for(key)
        return cls(key, fingerprint(key))


def signature_problem(manifest: ReleaseManifest, keys: Sequence[TrustedKey], *, require: bool) -> str | None:
    """Why this release may not be applied given its package's trusted keys, or None. Without keys a
    release is not checked, unless `require` (then nothing applies)."""
    who = f"package {manifest.package!r}"
    if not keys:
        if require:
            return (f"{who} has no trusted key in the trust file and signatures are required: release "
                    f"{manifest.release_id} is not applied")
        return None
    trusted = ", ".join(k.fingerprint[:23] for k in keys)
    sig = manifest.signature
    if sig is None:
        return (f"release {manifest.release_id} is not signed; {who} applies only releases signed by one of its "
                f"trusted keys ({trusted})")
    if sig.algorithm not in ALGORITHMS:
        return (f"release {manifest.release_id}: signature algorithm {sig.algorithm!r} is not one of "
                f"{', '.join(ALGORITHMS)}")
    try:
        value = base64.b64decode(sig.value, validate=True)
    except (binascii.Error, ValueError):
        return f"release {manifest.release_id}: the signature value is not base64"
    message = statement(manifest)
    if any(verifies(k.key, sig.algorithm, message, value) for k in keys):
        return None
    return (f"the signature of release {manifest.release_id} (key {sig.key_id}) does not verify against any "
            f"trusted key of {who} ({trusted})")


def signed_by(manifest: ReleaseManifest) -> str:
    """Who signed a release, for people: the key id, or `-` for an unsigned release."""
    return manifest.signature.key_id if manifest.signature else "-"


# -- signers ------------------------------------------------------------------------------------
class Signer(Protocol):
    """Makes signatures: `public_key` is the key its signatures verify against."""

    @property
    def description(self) -> str: ...

    def public_key(self) -> PublicKey: ...

    def sign(self, message: bytes) -> Signature: ...


def sign_manifest(manifest: ReleaseManifest, signer: Signer) -> ReleaseManifest:
    """The manifest with the signer's signature of its statement. A signature that does not verify
    against the signer's own public key is refused (a wrong key or a broken signer)."""
    message = statement(manifest)
    if len(message) > KMS_RAW_MESSAGE_LIMIT:
        raise RefusedError(f"the release statement is {len(message)} bytes, over the {KMS_RAW_MESSAGE_LIMIT} byte "
                           "limit of a RAW signature", kind=ErrorKind.SIGNATURE)
    signature = signer.sign(message)
    value = base64.b64decode(signature.value)
    if not verifies(signer.public_key(), signature.algorithm, message, value):
        raise RefusedError(f"{signer.description}: the signature it returned does not verify against its public key",
                           kind=ErrorKind.SIGNATURE)
    return manifest.with_changes(signature=signature)


def already_signed_by(manifest: ReleaseManifest | None, signer: Signer) -> bool:
    """True when the release carries a signature that verifies against the signer's public key."""
    if manifest is None:
        return False
    key = TrustedKey.from_key(signer.public_key())
    return signature_problem(manifest, [key], require=True) is None


def load_public_key(pem: str | bytes, *, source: str) -> PublicKey:
    """A PEM public key (SubjectPublicKeyInfo) of a supported kind; UsageError naming `source`."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"{source}: not a PEM public key ({exc})") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise UsageError(f"{source}: {type(key).__name__} keys are not supported (use EC P-256/P-384 or RSA)")
    try:
        algorithm_for(key)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
    return key


class PemSigner:
    """Signs with a PEM private key file (development, the demo); the key id is its fingerprint."""

    def __init__(self, path: Path, *, option: str = "--signing-key") -> None:
        self.path = path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{option} file:{path}: cannot read the key: {exc.strerror or exc}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise UsageError(f"{option} file:{path}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise UsageError(f"{option} file:{path}: {type(key).__name__} keys are not supported "
                             "(use EC P-256/P-384 or RSA)")
        self._key: PrivateKey = key
        try:
            self.algorithm = algorithm_for(key.public_key())
        except UsageError as exc:
            raise UsageError(f"{option} file:{path}: {exc}") from None
        self.key_id = fingerprint(key.public_key())

    @property
    def description(self) -> str:
        return f"signing key file:{self.path}"

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, message: bytes) -> Signature:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            digest = hashes.SHA256() if self.algorithm == ECDSA_SHA_256 else hashes.SHA384()
            raw = self._key.sign(message, ec.ECDSA(digest))
        else:
            raw = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return Signature(self.key_id, self.algorithm, base64.b64encode(raw).decode("ascii"))
