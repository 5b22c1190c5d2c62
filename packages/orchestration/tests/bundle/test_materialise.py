"""A worker materialises one release by its id (bundle/materialise.py), against SeaweedFS: releases
published by the real publisher (signed), read through the agent's verified build; refusals leave
nothing at the destination."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow_dag_publisher.archive import archive_ref, build_archive
from airflow_dag_publisher.bundle.materialise import ReleaseSource, ReleaseUnavailableError, materialise
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, new_release_id, utc_now_iso
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.signing import PemSigner, sign_manifest
from airflow_dag_publisher.sources import read_source
from airflow_dag_publisher.storage import Storage, archive_key, dag_key, release_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.trust import Trust, load_trust

from devstack.dagfiles import kpo_dag
from devstack.seaweedfs import SeaweedFS
from devstack.signing_keys import public_pem, trust_yaml, write_key

pytestmark = pytest.mark.slow
ENV = "dev"
META = ReleaseMeta(published_by="tests", tool_version="0")


@dataclass
class World:
    storage: Storage
    bucket: str
    trust: Trust
    signer: PemSigner
    releases: list[ReleaseManifest]
    tmp: Path

    def source(self, agent_state: Path | None = None) -> ReleaseSource:
        return ReleaseSource(bucket=self.bucket, env=ENV, trust=self.trust, agent_state=agent_state)


def release_files(n: int) -> dict[str, str]:
    return {"alpha_daily.py": kpo_dag("alpha", "daily", image=f"registry.example.com/alpha:1.0.{n}"),
            "helpers.py": f"RELEASE = {n}\n"}


@pytest.fixture(scope="module")
def world(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("materialise")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in seaweedfs.env().items():
            mp.setenv(name, value)
        yield from _world(seaweedfs, tmp)


def _world(seaweedfs: SeaweedFS, tmp: Path) -> Iterator[World]:
    bucket = seaweedfs.create_bucket(f"mat-{uuid.uuid4().hex[:12]}")
    key = write_key(tmp / "key.pem")
    (tmp / "trust.yaml").write_text(trust_yaml({"alpha": [public_pem(key)]}))
    signer = PemSigner(key)
    storage = Storage(bucket, seaweedfs.client())
    releases = []
    for n in range(4):
        folder = tmp / f"src{n}"
        folder.mkdir()
        for path, text in release_files(n).items():
            (folder / path).write_text(text)
        result = Publisher(storage, ENV, "alpha", signer=signer).publish_files(
            read_source(folder), META, PublishOptions(validation=Validation.STATIC), source=str(folder))
        assert result.manifest is not None
        releases.append(result.manifest)
    yield World(storage, bucket, load_trust(str(tmp / "trust.yaml"), require=True), signer, releases, tmp)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_an_empty_worker_materialises_a_release_three_back_by_its_id(world: World, tmp_path: Path) -> None:
    oldest = world.releases[0]
    dest = tmp_path / "versions" / oldest.release_id
    made: list[Storage] = []

    def storage() -> Storage:
        made.append(Storage(world.bucket))
        return made[-1]

    done = materialise(world.source(), "alpha", oldest.release_id, dest, storage=storage)
    assert done is not None and not done.local
    files = {p: t.encode() for p, t in release_files(0).items()}
    assert _tree(dest / "alpha") == files
    assert json.loads((dest / "manifest.json").read_bytes())["release_id"] == oldest.release_id
    # Its manifest by id and its archive: the budget of a KubernetesExecutor task pod is 5 + the archive.
    assert made[0].requests == done.requests == 2 and done.downloaded == 2
    assert materialise(world.source(), "alpha", oldest.release_id, dest, storage=storage) is None  # already there
    assert made[0].requests == 2


def test_the_agents_local_copy_is_used_without_any_s3_request(world: World, tmp_path: Path) -> None:
    dags = tmp_path / "agent" / "dags"
    agent = SyncAgent(AgentConfig(bucket=world.bucket, env=ENV), Storage(world.bucket), Layout(dags),
                      trust=world.trust)
    agent.open()
    try:
        assert agent.run_cycle(reconcile=True).applied == ["alpha"]
    finally:
        agent.close()
    current = world.releases[-1]

    def no_s3() -> Storage:
        raise AssertionError("the agent's copy was not used")

    dest = tmp_path / "versions" / current.release_id
    done = materialise(world.source(Layout(dags).state_dir), "alpha", current.release_id, dest, storage=no_s3)
    assert done is not None and done.local and done.requests == 0
    assert _tree(dest / "alpha") == {p: t.encode() for p, t in release_files(3).items()}


def test_a_local_file_that_does_not_verify_is_fetched_again(world: World, tmp_path: Path) -> None:
    """The agent's copy is re-verified file by file (a copy, then its sha256); a file that does not
    match is downloaded by its pinned version, as the agent itself would."""
    current = world.releases[-1]
    state = tmp_path / "state"
    root = state / "releases" / "alpha" / current.release_id
    (root / "alpha").mkdir(parents=True)
    (root / "manifest.json").write_bytes(current.to_json())
    (root / "alpha" / "alpha_daily.py").write_text(release_files(3)["alpha_daily.py"])
    (root / "alpha" / "helpers.py").write_text("RELEASE = 'tampered'\n")
    dest = tmp_path / "versions" / current.release_id
    done = materialise(world.source(state), "alpha", current.release_id, dest)
    assert done is not None and done.local and done.downloaded == 1
    assert (dest / "alpha" / "helpers.py").read_text() == "RELEASE = 3\n"


def _forged(world: World, *, signer: PemSigner, tamper_sha256: bool = False) -> ReleaseManifest:
    """A release of alpha written straight to S3 (files, archive, its copy by id), signed by `signer`;
    with `tamper_sha256` its manifest pins a sha256 its bytes do not have."""
    data = b"RELEASE = 'forged'\n"
    stored = world.storage.put(dag_key(ENV, "alpha", "helpers.py"), data)
    body = build_archive([("helpers.py", data)])
    arch = world.storage.put(archive_key(ENV, "alpha"), body)
    assert stored.version_id and arch.version_id
    digest = hashlib.sha256(b"something else" if tamper_sha256 else data).hexdigest()
    manifest = ReleaseManifest(env=ENV, package="alpha", release_id=new_release_id(), created_at=utc_now_iso(),
                               files=(FileEntry("helpers.py", digest, len(data), stored.version_id),),
                               dag_ids=("alpha_daily",), archive=archive_ref(arch.version_id, body))
    manifest = sign_manifest(manifest, signer)
    world.storage.put(release_key(ENV, "alpha", manifest.release_id), manifest.to_json())
    return manifest


@pytest.mark.parametrize("case", ["signature", "sha256", "unknown"])
def test_a_release_that_does_not_verify_fails_naming_why_and_writes_nothing(world: World, tmp_path: Path,
                                                                           case: str) -> None:
    if case == "signature":
        release_id = _forged(world, signer=PemSigner(write_key(tmp_path / "intruder.pem"))).release_id
        why = "signature"
    elif case == "sha256":
        release_id = _forged(world, signer=world.signer, tamper_sha256=True).release_id
        why = "sha256"
    else:
        release_id, why = "20200101T000000Z-000000000000", "does not exist"
    versions = tmp_path / "versions"
    dest = versions / release_id
    with pytest.raises(ReleaseUnavailableError) as caught:
        materialise(world.source(), "alpha", release_id, dest)
    message = str(caught.value)
    assert message.startswith(f"package alpha, release {release_id}: ") and "\n" not in message, message
    assert why in message, message
    assert not dest.exists()
    assert [p for p in versions.rglob("*") if p.is_file()] == []  # nothing left in staging either


@pytest.mark.parametrize("release_id", ["../x", "..", "a/b", ""])
def test_a_version_that_is_not_a_release_id_is_refused_before_any_request(world: World, tmp_path: Path,
                                                                         release_id: str) -> None:
    def no_s3() -> Storage:
        raise AssertionError("asked S3")

    with pytest.raises(ReleaseUnavailableError, match="not a package name and release id"):
        materialise(world.source(), "alpha", release_id, tmp_path / "v", storage=no_s3)


def test_a_retirement_is_not_a_release_to_run(world: World, tmp_path: Path) -> None:
    tombstone = Publisher(world.storage, ENV, "beta", signer=world.signer)
    folder = tmp_path / "beta"
    folder.mkdir()
    (folder / "beta_daily.py").write_text(kpo_dag("beta", "daily"))
    tombstone.publish_files(read_source(folder), META, PublishOptions(validation=Validation.STATIC))
    retired = tombstone.retire(META)
    trust = Trust({"beta": world.trust.keys_for("alpha")}, require=True)
    source = ReleaseSource(bucket=world.bucket, env=ENV, trust=trust)
    assert retired.release_id is not None
    with pytest.raises(ReleaseUnavailableError, match="retires the package"):
        materialise(source, "beta", retired.release_id, tmp_path / "v" / retired.release_id)
