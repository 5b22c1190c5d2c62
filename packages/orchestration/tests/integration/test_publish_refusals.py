"""Every refusal: the documented exit code, a message naming the culprit, no traceback, and the
bucket exactly as it was (all object versions and delete markers compared)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.seaweedfs import SeaweedFS

from .helpers import cli, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")

Setup = Callable[[Path, str, SeaweedFS], list[str]]


def _base(bucket: str, source: Path, package: str = "alpha") -> list[str]:
    return ["publish", "--env", "dev", "--bucket", bucket, "--package", package, "--source", str(source),
            "--skip-dynamic-validation"]


def bad_package(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    return _base(bucket, src, package="Alpha-1")


def bad_env(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    args = _base(bucket, src)
    args[args.index("--env") + 1] = "Dev!"
    return args


def unversioned_bucket(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    name = bucket + "-plain"
    s3.create_bucket(name, versioning=False)
    return _base(name, src)


def missing_bucket(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    return _base(bucket + "-missing", src)


def symlink(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    (src / "link.py").symlink_to(src / "alpha_daily.py")
    return _base(bucket, src)


def oversized(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    (src / "big.json").write_bytes(b"x" * 2048)
    return [*_base(bucket, src), "--max-file-size", "1024"]


def unsafe_name(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    (src / "bad\nname.py").write_text("x = 1\n")
    return _base(bucket, src)


def empty(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    for f in src.iterdir():
        f.unlink()
    return _base(bucket, src)


def too_many_deletes(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    (src / "alpha_daily.py").unlink()
    write_dag(src, "alpha", "other")
    return [*_base(bucket, src), "--max-delete", "0"]


def syntax_error(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    (src / "broken.py").write_text("def oops(:\n")
    return _base(bucket, src)


def owned_by_other(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    # alpha published alpha_ext_job before package alpha_ext existed; alpha_ext may not take it over.
    write_dag(src, "alpha", "ext_job")
    assert cli_ok(_base(bucket, src))
    other = src.parent / "ext-src"
    write_dag(other, "alpha_ext", "job")
    return _base(bucket, other, package="alpha_ext")


def longer_prefix(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    other = src.parent / "ext-src"
    write_dag(other, "alpha_ext", "daily")
    assert cli_ok(_base(bucket, other, package="alpha_ext"))
    write_dag(src, "alpha", "ext_weekly")  # dag_id alpha_ext_weekly: package alpha_ext's prefix
    return _base(bucket, src)


def imports_other_package(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    other = src.parent / "beta-src"
    write_dag(other, "beta", "daily")
    (other / "beta_helpers.py").write_text("X = 1\n")
    assert cli_ok(_base(bucket, other, package="beta"))
    (src / "uses_beta.py").write_text("import beta.beta_helpers\n")
    return _base(bucket, src)


def file_named_manifest_json(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    """Issue 26: the CI policy denies every deeper key named manifest.json (IAM's `*` spans `/`)."""
    (src / "sql").mkdir()
    (src / "sql" / "manifest.json").write_text("{}\n")
    return _base(bucket, src)


def missing_source(src: Path, bucket: str, s3: SeaweedFS) -> list[str]:
    return _base(bucket, src / "nope")


def cli_ok(args: list[str]) -> bool:
    from airflow_dag_publisher.cli.main import main

    return main(args) == 0


CASES: list[tuple[Setup, int, str]] = [
    (bad_package, 2, "--package 'Alpha-1'"),
    (bad_env, 2, "--env 'Dev!'"),
    (unversioned_bucket, 2, "versioning"),
    (missing_bucket, 2, "does not exist"),  # a typo never heals: not "worth retrying"
    (symlink, 1, "link.py: symlinks are not published"),
    (oversized, 1, "big.json: 2048 bytes, over the 1024 byte limit"),
    (unsafe_name, 1, "unsafe path"),
    (file_named_manifest_json, 1, "the name manifest.json is reserved"),
    (empty, 1, "--allow-empty"),
    (too_many_deletes, 1, "over --max-delete 0"),
    (syntax_error, 1, "broken.py"),
    (owned_by_other, 1, "'alpha_ext_job' is already owned by package 'alpha'"),
    (longer_prefix, 1, "'alpha_ext_weekly' carries the prefix of package 'alpha_ext'"),
    (imports_other_package, 1, "uses_beta.py"),
    (missing_source, 2, "nope: no such directory"),
]


@pytest.mark.parametrize(("setup", "code", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_refusal_names_the_culprit_and_changes_nothing(
        setup: Setup, code: int, message: str, tmp_path: Path, bucket: str, seaweedfs: SeaweedFS,
        capsys: pytest.CaptureFixture[str]) -> None:
    from .helpers import snapshot

    src = tmp_path / "src"
    write_dag(src, "alpha", "daily")
    assert cli(capsys, *_base(bucket, src)).code == 0
    args = setup(src, bucket, seaweedfs)
    before = snapshot(seaweedfs.client(), bucket)
    run = cli(capsys, *args)
    assert run.code == code, run.err
    assert message in run.err
    assert "Traceback" not in run.err + run.out
    assert snapshot(seaweedfs.client(), bucket) == before


def test_no_credentials_is_a_storage_error_that_says_so(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run = cli(capsys, *_base(bucket, tmp_path))
    assert run.code == 3 and "no AWS credentials" in run.err


def test_unreachable_endpoint_is_a_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    run = cli(capsys, *_base("some-bucket", tmp_path))
    assert run.code == 3 and "cannot reach the S3 endpoint" in run.err and os.linesep in run.err
