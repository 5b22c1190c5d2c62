"""`show`, `diff` and `history --limit` on releases made here on SeaweedFS, text and JSON, checked
against the files the releases were made from."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

import pytest

from .helpers import Run, cli, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BINARY = bytes(range(256)) * 8


def make(root: Path, n: int) -> Path:
    src = root / f"v{n}"
    write_dag(src, "alpha", "daily", n=n)
    (src / "helpers").mkdir()
    (src / "helpers" / "settings.py").write_text(f"VERSION = {n}\nREGION = 'eu-west-1'\n")
    (src / "helpers" / "lookup.bin").write_bytes(BINARY + bytes([n]))
    if n == 0:
        (src / "helpers" / "old.py").write_text("OLD = True\n")
    else:
        write_dag(src, "alpha", "hourly", n=n)
    return src


def run(capsys: pytest.CaptureFixture[str], bucket: str, *args: str, env: str = "dev") -> Run:
    result = cli(capsys, args[0], "--env", env, "--bucket", bucket, "--package", "alpha", *args[1:])
    assert result.code == 0, result.out + result.err
    return result


def publish(capsys: pytest.CaptureFixture[str], bucket: str, src: Path, env: str = "dev") -> str:
    doc = run(capsys, bucket, "publish", "--source", str(src), "--skip-dynamic-validation", "--json", env=env).json()
    return str(doc["release_id"])


def expected_diff(old: Path, new: Path, rel: str, old_id: str, new_id: str) -> str:
    a = (old / rel).read_text().splitlines(keepends=True) if (old / rel).exists() else []
    b = (new / rel).read_text().splitlines(keepends=True) if (new / rel).exists() else []
    return "".join(difflib.unified_diff(a, b, f"a/{rel}" if a else "/dev/null", f"b/{rel}" if b else "/dev/null",
                                        old_id, new_id))


def test_diff_between_two_releases_lists_each_change_and_shows_text_diffs(
        tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    v0, v1 = make(tmp_path, 0), make(tmp_path, 1)
    r0, r1 = publish(capsys, bucket, v0), publish(capsys, bucket, v1)

    doc = run(capsys, bucket, "diff", r0, r1, "--json").json()
    assert doc["from"] == r0 and doc["to"] == r1
    assert doc["added"] == ["alpha_hourly.py"]
    assert doc["changed"] == ["alpha_daily.py", "helpers/lookup.bin", "helpers/settings.py"]
    assert doc["removed"] == ["helpers/old.py"]
    assert doc["unchanged"] == []
    assert doc["dag_ids"] == {"added": ["alpha_hourly"], "removed": []}
    files = {f["path"]: f for f in doc["files"]}
    for rel in ("alpha_hourly.py", "alpha_daily.py", "helpers/settings.py", "helpers/old.py"):
        assert files[rel]["binary"] is False
        assert files[rel]["diff"] == expected_diff(v0, v1, rel, r0, r1), rel
    binary = files["helpers/lookup.bin"]
    assert binary["binary"] is True and binary["diff"] is None
    assert binary["old_sha256"] == hashlib.sha256((v0 / "helpers" / "lookup.bin").read_bytes()).hexdigest()
    assert binary["new_sha256"] == hashlib.sha256((v1 / "helpers" / "lookup.bin").read_bytes()).hexdigest()

    text = run(capsys, bucket, "diff", r0).out  # TO defaults to the current release (r1)
    assert text.splitlines()[0] == f"diff {r0} -> {r1}: 1 added, 3 changed, 1 removed, 0 unchanged"
    assert "dag_ids: +alpha_hourly" in text
    assert "changed  helpers/lookup.bin (binary file: no text diff)" in text
    assert "removed  helpers/old.py" in text
    assert "-VERSION = 0\n+VERSION = 1\n" in text
    assert '-        image="registry.example.com/alpha:1.0.0",\n+        image="registry.example.com/alpha:1.0.1",' \
        in text
    stat = run(capsys, bucket, "diff", r0, r1, "--stat").out
    assert "+VERSION = 1" not in stat and "added    alpha_hourly.py" in stat


def test_diff_of_a_release_and_a_local_folder(tmp_path: Path, bucket: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    v0 = make(tmp_path, 0)
    r0 = publish(capsys, bucket, v0)
    (v0 / "helpers" / "settings.py").write_text("VERSION = 2\nREGION = 'eu-west-1'\n")
    (v0 / "helpers" / "old.py").unlink()

    doc = run(capsys, bucket, "diff", "--source", str(v0), "--json").json()  # FROM: the current release
    assert doc["from"] == r0 and doc["to"] == {"source": str(v0)}
    assert (doc["added"], doc["changed"], doc["removed"]) == ([], ["helpers/settings.py"], ["helpers/old.py"])
    assert doc["unchanged"] == ["alpha_daily.py", "helpers/lookup.bin"]
    (changed,) = [f for f in doc["files"] if f["path"] == "helpers/settings.py"]
    assert "-VERSION = 0\n+VERSION = 2\n" in changed["diff"]

    both = cli(capsys, "diff", "--env", "dev", "--bucket", bucket, "--package", "alpha", r0, r0, "--source", str(v0))
    assert both.code == 2 and "give TO or --source, not both" in both.err
    missing = cli(capsys, "diff", "--env", "dev", "--bucket", bucket, "--package", "alpha", "nope", "--json")
    assert missing.code == 2 and missing.json()["error"]["kind"] == "unknown_release"  # a typo never heals


def test_show_prints_a_release_in_human_form_and_as_json(tmp_path: Path, bucket: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    v0, v1 = make(tmp_path, 0), make(tmp_path, 1)
    r0 = publish(capsys, bucket, v0)
    publish(capsys, bucket, v1)

    manifest = run(capsys, bucket, "show", r0, "--json").json()
    history = run(capsys, bucket, "history", "--json").json()
    assert manifest == history[1] and manifest["release_id"] == r0

    text = run(capsys, bucket, "show", r0).out
    assert f"release        {r0}\n" in text
    assert "package        alpha in dev\n" in text
    assert f"published      {manifest['created_at']} by {manifest['published_by']}\n" in text
    assert "image          registry.example.com/alpha:1.0.0\n" in text  # what v0's job runs
    assert f"git sha        {manifest['git_sha'] or '-'}\n" in text
    assert "previous       - (first release)\n" in text
    assert "promoted from  -\n" in text and "signed by      unsigned\n" in text
    assert "dag_ids        alpha_daily\n" in text
    assert f"content        {manifest['content_digest']}\n" in text
    for path in ("alpha_daily.py", "helpers/lookup.bin", "helpers/old.py", "helpers/settings.py"):
        data = (v0 / path).read_bytes()
        assert any(line.split() == [hashlib.sha256(data).hexdigest()[:12], str(len(data)), path]
                   for line in text.splitlines()), path

    current = run(capsys, bucket, "show").out  # no RELEASE: the current one
    assert "dag_ids        alpha_daily, alpha_hourly\n" in current and f"previous       {r0}\n" in current

    promoted = run(capsys, bucket, "promote", "--from-env", "dev", env="prod").out
    assert "promotes dev release" in promoted
    shown = run(capsys, bucket, "show", env="prod").out
    assert f"promoted from  dev release {history[0]['release_id']}\n" in shown


def test_history_limit_shows_only_the_newest_releases(tmp_path: Path, bucket: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ids = [publish(capsys, bucket, make(tmp_path, n)) for n in (0, 1)]
    ids.append(publish(capsys, bucket, make(tmp_path / "again", 0)))
    assert [m["release_id"] for m in run(capsys, bucket, "history", "--json").json()] == ids[::-1]
    assert [m["release_id"] for m in run(capsys, bucket, "history", "--limit", "2", "--json").json()] == ids[:0:-1]
    lines = run(capsys, bucket, "history", "--limit", "1").out.splitlines()
    assert len(lines) == 2 and lines[1].startswith(ids[2]) and lines[1].endswith("(current)")
    bad = cli(capsys, "history", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--limit", "0")
    assert bad.code == 2
