"""Signed releases without a server: the canonical statement, the PEM signer, verification against
trusted keys (rotation: two keys at once), the `--signing-key` values and the trust file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from airflow_dag_publisher.cli.common import signer_from_option
from airflow_dag_publisher.errors import RefusedError, UsageError
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, Signature, parse_manifest
from airflow_dag_publisher.signing import (
    KMS_RAW_MESSAGE_LIMIT,
    PemSigner,
    TrustedKey,
    already_signed_by,
    canonical_manifest,
    sign_manifest,
    signature_problem,
    statement,
)
from airflow_dag_publisher.sync.trust import load_trust, parse_trust
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from devstack.signing_keys import public_pem, trust_yaml, write_key

SHA = "a" * 64


def manifest(**changes: object) -> ReleaseManifest:
    base = ReleaseManifest(env="dev", package="acme", release_id="20260101T000000Z-abcdef012345",
                           created_at="2026-01-01T00:00:00Z", files=(FileEntry("acme_daily.py", SHA, 10, "v1"),),
                           dag_ids=("acme_daily",), published_by="tests", image="registry.example.com/acme:1",
                           previous_release_id="20251231T000000Z-000000000000")
    return base.with_changes(**changes) if changes else base


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: write_key(folder / f"{name}.pem", kind) for name, kind in
            [("ec", "ec"), ("ec_new", "ec"), ("p384", "p384"), ("rsa", "rsa")]}


def trusted(path: Path) -> TrustedKey:
    key = serialization.load_pem_public_key(public_pem(path).encode())
    assert isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey))
    return TrustedKey.from_key(key)


def test_statement_names_the_release_and_hashes_the_canonical_manifest() -> None:
    m = manifest()
    doc = json.loads(statement(m))
    assert doc["env"] == "dev" and doc["package"] == "acme" and doc["release_id"] == m.release_id
    assert doc["previous_release_id"] == m.previous_release_id and doc["content_digest"] == m.content_digest
    assert len(doc["manifest_sha256"]) == 64
    canonical = canonical_manifest(m)
    assert canonical == json.dumps(json.loads(canonical), sort_keys=True, separators=(",", ":")).encode()
    assert b"signature" not in canonical_manifest(m.with_changes(signature=Signature("k", "ECDSA_SHA_256", "AA==")))


def test_statement_stays_under_the_kms_raw_limit_at_the_longest_names() -> None:
    long = manifest(env="e" * 32, package="p" * 63, release_id="r" * 128, previous_release_id="q" * 128)
    assert len(statement(long)) < KMS_RAW_MESSAGE_LIMIT // 4


@pytest.mark.parametrize("kind", ["ec", "p384", "rsa"])
def test_a_pem_signature_verifies_after_the_manifest_round_trips_through_json(keys: dict[str, Path],
                                                                              kind: str) -> None:
    signer = PemSigner(keys[kind])
    signed = sign_manifest(manifest(), signer)
    assert signed.signature is not None and signed.signature.key_id.startswith("sha256:")
    parsed = parse_manifest(signed.to_json(), source="test")
    assert signature_problem(parsed, [trusted(keys[kind])], require=True) is None
    assert already_signed_by(parsed, signer)


@pytest.mark.parametrize(("field", "value"), [
    ("image", "registry.example.com/evil:1"), ("dag_ids", ("acme_other",)), ("published_by", "someone"),
    ("release_id", "20260101T000000Z-ffffffffffff"), ("previous_release_id", None), ("retired", True),
    ("files", (FileEntry("acme_daily.py", "b" * 64, 10, "v1"),)), ("env", "prod"), ("package", "other"),
    ("files", (FileEntry("acme_daily.py", SHA, 10, "v2-attacker"),)),
])
def test_any_change_to_a_signed_manifest_breaks_its_signature(keys: dict[str, Path], field: str,
                                                              value: object) -> None:
    signed = sign_manifest(manifest(), PemSigner(keys["ec"]))
    changes: dict[str, object] = {field: value}
    if field == "files":
        changes["content_digest"] = ""  # recomputed: a consistent, well-formed forgery
    if field == "retired":
        changes.update(files=(), dag_ids=(), content_digest="")
    forged = signed.with_changes(**changes)
    problem = signature_problem(forged, [trusted(keys["ec"])], require=False)
    assert problem and "does not verify" in problem


def test_unsigned_and_wrong_key_releases_are_refused_when_the_package_has_keys(keys: dict[str, Path]) -> None:
    problem = signature_problem(manifest(), [trusted(keys["ec"])], require=False)
    assert problem and "is not signed" in problem and "acme" in problem
    other = sign_manifest(manifest(), PemSigner(keys["rsa"]))
    problem = signature_problem(other, [trusted(keys["ec"])], require=False)
    assert problem and "does not verify" in problem and other.signature is not None
    assert other.signature.key_id in problem


def test_without_keys_a_release_is_unchecked_unless_signatures_are_required() -> None:
    assert signature_problem(manifest(), [], require=False) is None
    problem = signature_problem(manifest(), [], require=True)
    assert problem and "no trusted key" in problem


@pytest.mark.parametrize(("algorithm", "value", "why"), [
    ("ECDSA_SHA_512", "AA==", "is not one of"), ("ECDSA_SHA_256", "not base64!", "not base64"),
    ("RSASSA_PKCS1_V1_5_SHA_256", "AA==", "does not verify"),
])
def test_malformed_signatures_are_refused(keys: dict[str, Path], algorithm: str, value: str, why: str) -> None:
    forged = manifest(signature=Signature("k", algorithm, value))
    problem = signature_problem(forged, [trusted(keys["ec"])], require=True)
    assert problem and why in problem


def test_rotation_two_trusted_keys_at_once(keys: dict[str, Path]) -> None:
    old = sign_manifest(manifest(), PemSigner(keys["ec"]))
    new = sign_manifest(manifest(release_id="20260102T000000Z-abcdef012345"), PemSigner(keys["ec_new"]))
    both = [trusted(keys["ec"]), trusted(keys["ec_new"])]
    assert signature_problem(old, both, require=True) is None
    assert signature_problem(new, both, require=True) is None
    assert signature_problem(old, [trusted(keys["ec_new"])], require=True)  # old key dropped: refused


def test_a_signer_whose_signature_does_not_verify_is_refused(keys: dict[str, Path]) -> None:
    class Broken(PemSigner):
        def sign(self, message: bytes) -> Signature:
            good = super().sign(message)
            return Signature(good.key_id, good.algorithm, base64.b64encode(b"\x00" * 70).decode())

    with pytest.raises(RefusedError, match="does not verify against its public key") as info:
        sign_manifest(manifest(), Broken(keys["ec"]))
    assert info.value.kind == "signature"


def test_signing_key_values(keys: dict[str, Path], tmp_path: Path) -> None:
    assert signer_from_option(None) is None and signer_from_option("  ") is None
    assert isinstance(signer_from_option(f"file:{keys['ec']}"), PemSigner)
    for kms in ("alias/airflow-dags-dev-sign-acme", "1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:eu-west-1:123456789012:alias/airflow-dags-dev-sign-acme"):
        signer = signer_from_option(kms)
        assert signer is not None and kms in signer.description
    with pytest.raises(UsageError, match=r"DAG_SIGNING_KEY.*expected a KMS key id"):
        signer_from_option("my-key")
    with pytest.raises(UsageError, match=f"file:{tmp_path}/missing.pem: cannot read the key"):
        signer_from_option(f"file:{tmp_path}/missing.pem")
    (tmp_path / "public.pem").write_text(public_pem(keys["ec"]))
    with pytest.raises(UsageError, match=r"public\.pem: not an unencrypted PEM private key"):
        signer_from_option(f"file:{tmp_path}/public.pem")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "weak.pem").write_bytes(weak.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    with pytest.raises(UsageError, match=r"weak\.pem: an RSA key of 1024 bits is too small"):
        signer_from_option(f"file:{tmp_path}/weak.pem")
    edwards = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "ed.pem").write_bytes(edwards.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    with pytest.raises(UsageError, match=r"ed\.pem: Ed25519PrivateKey keys are not supported"):
        signer_from_option(f"file:{tmp_path}/ed.pem")


def test_trust_file_maps_packages_to_keys(keys: dict[str, Path], tmp_path: Path) -> None:
    text = trust_yaml({"acme": [public_pem(keys["ec"]), public_pem(keys["ec_new"])], "beta": [public_pem(keys["rsa"])]})
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    trust = load_trust(str(path), require=True)
    assert trust.require and trust.source == str(path)
    assert [k.fingerprint for k in trust.keys_for("acme")] == [trusted(keys["ec"]).fingerprint,
                                                               trusted(keys["ec_new"]).fingerprint]
    assert len(trust.keys_for("beta")) == 1 and trust.keys_for("gamma") == ()
    assert load_trust(None, require=False).keys == {} and not load_trust(None, require=False).enabled


def test_the_star_entry_is_trusted_for_every_package_without_its_own(keys: dict[str, Path], tmp_path: Path) -> None:
    text = trust_yaml({"acme": [public_pem(keys["ec"])], "*": [public_pem(keys["rsa"])]})
    assert text.startswith('"*":')  # unquoted, * would be a YAML alias
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    trust = load_trust(str(path), require=True)
    assert [k.fingerprint for k in trust.keys_for("acme")] == [trusted(keys["ec"]).fingerprint]  # its own only
    assert [k.fingerprint for k in trust.keys_for("gamma")] == [trusted(keys["rsa"]).fingerprint]


@pytest.mark.parametrize(("text", "why"), [
    ("acme: [", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping of package"),
    ("Bad-Name: []\n", "package 'Bad-Name': not a valid package name"),
    ("acme: []\n", "package 'acme': expected a non-empty list"),
    ("acme:\n  - not a key\n", "package 'acme', key 1: not a PEM public key"),
    ("acme:\n  - 42\n", "package 'acme', key 1: not a PEM string"),
])
def test_a_trust_file_that_does_not_parse_names_the_file_and_package(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as info:
        parse_trust(text, source="/etc/trust.yaml")
    assert str(info.value).startswith("/etc/trust.yaml: ")


def test_an_unreadable_trust_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"--trust-file {tmp_path}/none.yaml: cannot read it"):
        load_trust(str(tmp_path / "none.yaml"), require=False)
    assert parse_trust("", source="x") == {}
