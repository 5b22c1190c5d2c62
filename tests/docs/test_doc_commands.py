"""Every command block of the documentation runs, or says why it cannot run on one machine.

A command block is a fence opened with ```bash, ```sh or ```console. A block that needs a real
cluster or cloud account is marked by an HTML comment on the line right before its fence:

    <!-- needs: cluster -->      kubectl / helm against a Kubernetes cluster
    <!-- needs: cloud -->        real AWS (terraform apply, IAM, a GitLab instance)
    <!-- needs: docker -->       a Docker engine (docker build)
    <!-- needs: suite -->        a part of the test suite itself (`make test` runs it)

Every other block runs here, in order, each in its own `bash -euo pipefail`, in a scratch copy of
the repository (the .venv linked in), against a fresh SeaweedFS with the versioned bucket the docs
use (`acme-airflow-dags-dev`) and AWS_ENDPOINT_URL plus dummy credentials in the environment. A block
must exit 0. The test fails on an unknown marker, on a block left unrun, and on an exception below
that no longer matches a block.

The root README needs two accommodations. Its first block (`make demo`, `make test`) is dry-run with
`make -n`, which proves the targets exist and expand: `make test` is this suite and `make demo`
serves until Ctrl-C (its `--check` run has its own test, tests/demo). Its "publish a change" block
sources the `.local/demo/env.sh` of a running demo; here a stand-in with the same exports points it
at this test's SeaweedFS.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.demo_stack import env_sh
from devstack.seaweedfs import SeaweedFS

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/airflow/README.md", "docs/airflow/DEPLOYMENT.md", "docs/airflow/OPERATIONS.md",
        "packages/orchestration/README.md", "infra/airflow/README.md", "packages/pipeline_processing/README.md",
        "packages/reporting_seeder/README.md")
COMMAND_LANGS = {"bash", "sh", "console"}
NEEDS = {"cluster": "kubectl or helm against a Kubernetes cluster",
         "cloud": "real AWS or a GitLab instance",
         "docker": "a Docker engine (docker build)",
         "suite": "a part of the test suite itself, which `make test` runs"}
DOC_BUCKET = "acme-airflow-dags-dev"
BLOCK_TIMEOUT = 240
# (document, exact block text) -> how it is checked instead of run, and why.
DRY_RUN_ONLY = {
    ("README.md", "make demo    # local S3 + sync agent + Airflow 3, both example packages published and visible\n"
                  "make test    # the whole suite: lint, types, unit, integration against real services, end to end\n"):
        "make -n demo test",
}
MARKER = re.compile(r"^<!--\s*needs:\s*([a-z-]+)\s*-->$")
FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".local", "node_modules", "__pycache__", "*.egg-info",
                                     ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "build", "dist",
                                     ".gitlab-ci-local", "test-artifacts")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    text: str
    needs: str | None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    def script(self) -> str:
        if self.lang != "console":
            return self.text
        return "".join(line[2:] + "\n" for line in self.text.splitlines() if line.startswith("$ "))


def extract_blocks(doc: str, text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang = match.groups()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang.lower() not in COMMAND_LANGS:
            continue
        prev = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(prev)
        blocks.append(Block(doc, start + 1, lang.lower(), "\n".join(body) + "\n", marker.group(1) if marker else None))
    return blocks


def all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in extract_blocks(doc, (REPO / doc).read_text(encoding="utf-8"))]


def test_extraction_finds_fences_markers_and_console_prompts() -> None:
    text = ("intro\n```bash\necho one\n```\n<!-- needs: cluster -->\n\n```sh\nkubectl get pods\n```\n"
            "```yaml\nkey: value\n```\n```console\n$ echo two\ntwo\n```\n")
    blocks = extract_blocks("x.md", text)
    assert [(b.lang, b.needs, b.line) for b in blocks] == [
        ("bash", None, 2), ("sh", "cluster", 7), ("console", None, 13)]
    assert blocks[2].script() == "echo two\n"


def test_every_block_is_runnable_or_marked_with_a_known_need() -> None:
    blocks = all_blocks()
    assert {b.doc for b in blocks} >= set(DOCS[1:]), "every document listed has commands"
    unknown = [f"{b.where}: needs: {b.needs}" for b in blocks if b.needs and b.needs not in NEEDS]
    assert not unknown, f"unknown markers (known: {sorted(NEEDS)}): {unknown}"
    texts = {(b.doc, b.text) for b in blocks}
    stale = [key[0] for key in DRY_RUN_ONLY if key not in texts]
    assert not stale, f"DRY_RUN_ONLY names a block that no longer exists in {stale}: update the table"


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of the work tree (without the .venv and caches; the .venv and npm tools linked in)."""
    stamp = REPO / ".venv" / ".installed"
    inputs = [REPO / "requirements-dev.lock", *REPO.glob("packages/*/pyproject.toml")]
    if not stamp.exists() or any(p.stat().st_mtime > stamp.stat().st_mtime for p in inputs):
        # A `make` target in the copy would reinstall the shared .venv, editable from the copy (which is
        # then deleted): every later import of the project would fail.
        pytest.fail("the .venv is older than requirements-dev.lock or a package's pyproject.toml: run `make install`")
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=COPY_IGNORE, symlinks=True)
    (copy / ".venv").symlink_to(REPO / ".venv")
    npm_modules = REPO / "devstack" / "npm" / "node_modules"
    if npm_modules.exists():
        (copy / "devstack" / "npm" / "node_modules").symlink_to(npm_modules)
    return copy


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = block.script()
    if (block.doc, block.text) in DRY_RUN_ONLY:
        script = DRY_RUN_ONLY[(block.doc, block.text)] + "\n"
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        return subprocess.CompletedProcess(proc.args, -9, out + f"\n(timed out after {BLOCK_TIMEOUT}s)")
    finally:  # background processes a block started (e.g. an agent it serves metrics from)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def write_demo_env_sh(repo: Path, s3: SeaweedFS) -> None:
    """A stand-in for the `.local/demo/env.sh` a running `make demo` writes (the root README sources it):
    the demo's own text (devstack.demo_stack.env_sh), pointing at this test's SeaweedFS and bucket."""
    text = env_sh(s3.env(), environment="dev", bucket=DOC_BUCKET, venv_bin=repo / ".venv" / "bin")
    (repo / ".local" / "demo").mkdir(parents=True, exist_ok=True)
    (repo / ".local" / "demo" / "env.sh").write_text(text)


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_doc_commands_run_against_seaweedfs(doc: str, scratch_repo: Path, tmp_path: Path) -> None:
    blocks = extract_blocks(doc, (REPO / doc).read_text(encoding="utf-8"))
    runnable = [b for b in blocks if b.needs is None]
    if not runnable:
        pytest.skip(f"{doc} has no runnable command block ({len(blocks)} marked)")
    with SeaweedFS(tmp_path / "s3") as s3:
        s3.create_bucket(DOC_BUCKET, environments=("dev",))  # as `setup_localstack.sh --bucket …` leaves it
        env = {k: v for k, v in os.environ.items()
               if k not in ("ENVIRONMENT", "PACKAGE_NAME", "IMAGE_TAG", "DAG_BUCKET", "DAG_SOURCE_DIR")}
        env.update(s3.env())
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(tmp_path / "home")
        write_demo_env_sh(scratch_repo, s3)
        ran: list[str] = []
        for block in runnable:
            started = time.monotonic()
            result = run_block(block, scratch_repo, env)
            assert result.returncode == 0, (
                f"{block.where} exited {result.returncode}\n--- block ---\n{block.text}--- output ---\n{result.stdout}")
            ran.append(f"{block.where} ({time.monotonic() - started:.1f}s)")
    assert len(ran) == len(runnable), f"left unrun: {set(map(str, runnable)) - set(ran)}"
    print(f"{doc}: ran {len(ran)} block(s), {len(blocks) - len(runnable)} marked: " + ", ".join(ran))
