"""What signed releases cost: a publish and an agent cycle with and without signatures, and the
signing and verifying primitives alone.

- publish: the Publisher (in-process, static validation) committing a new release of a FILES-file
  package, unsigned and signed with a PEM key (ECDSA P-256, what KMS's ECC_NIST_P256 is; a KMS
  signature adds one kms:Sign round trip per release, and one kms:GetPublicKey per publish);
- agent: a cold sync of PACKAGES packages x FILES files by the SyncAgent, with no trust file and
  with every package's key trusted and signatures required (each changed manifest is verified);
- primitives: building the statement and signing it; verifying one release against one trusted
  key and against two (a rotation).

    .venv/bin/python -m bench.signing_bench --packages 50 --files 5 --reps 3
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import tempfile
import time
from pathlib import Path

from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, new_release_id, utc_now_iso
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.signing import PemSigner, TrustedKey, sign_manifest, signature_problem, statement
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.trust import Trust

from bench.common import Row, discard, log, start_seaweedfs, write_rows
from devstack.dagfiles import kpo_dag
from devstack.signing_keys import write_key

ENV = "bench"
PUBLISH_ENV = "bench-publish"  # the publish rows' packages stay out of the agent's environment
BUCKET = "bench-signing"
UNSIGNED = "unsigned"
SIGNED = "signed (PEM key, ECDSA P-256)"
NO_TRUST = "agent, no trust file"
TRUSTED = "agent, --trust-file --require-signatures"
META = ReleaseMeta(published_by="bench", tool_version="bench")


def files_of(package: str, count: int, release: int) -> list[LocalFile]:
    out = []
    for n in range(count):
        data = (kpo_dag(package, f"job_{n:03d}", image=f"registry.example.com/{package}:1.0.{release}")).encode()
        out.append(LocalFile(f"{package}_job_{n:03d}.py", hashlib.sha256(data).hexdigest(), len(data), data))
    return out


def publish_rows(storage: Storage, signer: PemSigner, files: int, reps: int) -> list[Row]:
    rows = {peer: Row("signing", f"publish a new release, {files} files (in-process, static validation)", peer, "s",
                      reference=UNSIGNED if peer == SIGNED else "") for peer in (UNSIGNED, SIGNED)}
    options = PublishOptions(validation=Validation.STATIC)
    for rep in range(reps):
        order = ((UNSIGNED, None), (SIGNED, signer))
        for peer, key in order if rep % 2 == 0 else order[::-1]:  # alternate: neither always runs warm
            package = f"pub_{'s' if key else 'u'}"
            publisher = Publisher(storage, PUBLISH_ENV, package, signer=key)
            content = files_of(package, files, rep)
            start = time.perf_counter()
            result = publisher.publish_files(content, META, options)
            rows[peer].values.append(time.perf_counter() - start)
            assert not result.noop and (result.manifest.signature is not None) == (key is not None)  # type: ignore[union-attr]
    return list(rows.values())


def populate(storage: Storage, signers: dict[str, PemSigner], files: int) -> None:
    options = PublishOptions(validation=Validation.STATIC, allow_empty=False)
    for package, signer in signers.items():
        Publisher(storage, ENV, package, signer=signer).publish_files(files_of(package, files, 0), META, options)


def agent_rows(storage: Storage, root: Path, signers: dict[str, PemSigner], files: int, reps: int) -> list[Row]:
    trusted = Trust({p: (TrustedKey.from_key(s.public_key()),) for p, s in signers.items()}, require=True)
    scenario = f"agent cold sync, {len(signers)} packages x {files} files (in-process cycle)"
    rows = {NO_TRUST: Row("signing", scenario, NO_TRUST, "s"),
            TRUSTED: Row("signing", scenario, TRUSTED, "s", reference=NO_TRUST)}
    for rep in range(reps):
        order = ((NO_TRUST, Trust()), (TRUSTED, trusted))
        for peer, trust in order if rep % 2 == 0 else order[::-1]:
            folder = root / "agent"
            discard(folder)
            (folder / "dags").mkdir(parents=True)
            agent = SyncAgent(AgentConfig(bucket=BUCKET, env=ENV), storage, Layout(folder / "dags"), trust=trust)
            agent.open()
            try:
                start = time.perf_counter()
                result = agent.run_cycle(reconcile=True)
                rows[peer].values.append(time.perf_counter() - start)
            finally:
                agent.close()
            if result.outcome == "error" or result.refused or len(result.applied) != len(signers):
                raise RuntimeError(f"{peer}: cycle {result.outcome}: {result.error or result.refused}")
    return list(rows.values())


def primitive_rows(signer: PemSigner, other: PemSigner, reps: int) -> list[Row]:
    entries = tuple(FileEntry(f"p_job_{n:03d}.py", "a" * 64, 1000, "v1") for n in range(20))
    manifest = ReleaseManifest(env=ENV, package="p", release_id=new_release_id(), created_at=utc_now_iso(),
                               files=entries, dag_ids=("p_job",))
    keys = [TrustedKey.from_key(signer.public_key())]
    rotation = [TrustedKey.from_key(other.public_key()), *keys]  # the signing key tried second
    rows = [Row("signing", "statement + signature (20-file release)", "PEM key, ECDSA P-256", "s"),
            Row("signing", "verify one release", "1 trusted key", "s"),
            Row("signing", "verify one release", "2 trusted keys (rotation; the signer's second)", "s")]
    n = 200
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(n):
            signed = sign_manifest(manifest, signer)
        rows[0].values.append((time.perf_counter() - start) / n)
        for row, trusted in ((rows[1], keys), (rows[2], rotation)):
            start = time.perf_counter()
            for _ in range(n):
                assert signature_problem(signed, trusted, require=True) is None
            row.values.append((time.perf_counter() - start) / n)
    assert len(statement(signed)) < 4096 and base64.b64decode(signed.signature.value)  # type: ignore[union-attr]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=200, help="packages of the agent's cold sync (default 200)")
    parser.add_argument("--files", type=int, default=20, help="files per package (default 20)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        root = Path(tmp)
        s3 = start_seaweedfs(root / "s3")
        try:
            s3.create_bucket(BUCKET, environments=(ENV, PUBLISH_ENV))
            storage = Storage(BUCKET, s3.client())
            keys = root / "keys"
            signers = {f"pkg_{n:04d}": PemSigner(write_key(keys / f"{n}.pem")) for n in range(args.packages)}
            first = next(iter(signers.values()))
            log(f"signing: publish, {args.files} files x {args.reps} reps")
            rows = publish_rows(storage, first, args.files, args.reps)
            log(f"signing: populating {args.packages} signed packages")
            populate(storage, signers, args.files)
            log("signing: agent cold syncs")
            rows += agent_rows(storage, root, signers, args.files, args.reps)
            rows += primitive_rows(first, PemSigner(write_key(keys / "other.pem")), args.reps)
        finally:
            s3.close()
    for row in rows:
        log(f"{row.scenario} | {row.peer}: {row.median * 1000:.3f} ms (median of {len(row.values)})")
    write_rows(args.json, rows, {"params": {"packages": args.packages, "files": args.files, "reps": args.reps}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
