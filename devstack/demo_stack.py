"""The demo's services and their lifecycle: SeaweedFS (S3) with the versioned bucket, the sync agent
and Airflow 3, all under `.local/demo/`, started in their own process groups and stopped together.

Layout of `.local/` (git-ignored):
    demo/              one run; wiped at the next start (after stopping what a killed run left)
      pids.json        every process group this run started (see demo_procs)
      env.sh           the environment for publishing from a second terminal
      s3/              SeaweedFS data
      airflow/         AIRFLOW_HOME: airflow.db, logs, the login file
        dags/          the DAGs folder Airflow walks (one symlink per package, owned by the agent)
        dags-state/    the agent's releases and state, outside the walked tree (as in the Helm values)
      ci/<package>/    each publish job's working folder and artifacts (job.log, dag-publish.json, …)
      logs/            the logs of SeaweedFS and the agent (Airflow's: airflow/logs/)
    demo-cache/        kept across runs: a migrated Airflow database, the admin password
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from airflow_dag_publisher.manifest import parse_manifest
from airflow_dag_publisher.signing import signature_problem
from airflow_dag_publisher.storage import journal_prefix, manifest_key, parse_journal_key
from airflow_dag_publisher.sync.trust import load_trust

from devstack.airflow import bundle_config_list
from devstack.airflow_demo import ADMIN_USER, DemoAirflow
from devstack.demo_ci import CiRun, run_publish_job
from devstack.demo_config import DemoSettings
from devstack.demo_procs import Supervisor, read_pid_file, start_ticks, stop_stale
from devstack.local_env import NO_AWS_FILES, local_env, shell_unset_aws
from devstack.seaweedfs import SeaweedFS, free_port
from devstack.signing_keys import public_pem, trust_yaml, write_key

ROOT = Path(__file__).resolve().parent.parent
PACKAGES_FILE = ROOT / "infra" / "airflow" / "packages.yaml"  # the platform's list: both examples are spec-only
LOCAL = ROOT / ".local"
EXAMPLE_PACKAGES = ("pipeline_processing", "reporting_seeder")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


def env_sh(s3_env: Mapping[str, str], *, environment: str, bucket: str, venv_bin: Path,
           signing_key: Path | None = None, airflow: tuple[str, str, str] | None = None) -> str:
    """`.local/demo/env.sh`: a shell that sources it reaches the demo's S3 with the publisher (and
    signs with the demo's key, which the demo's agent requires), reaches its Airflow's API for
    `publish --wait` (`airflow`: URL, user, password), and keeps none of its own AWS settings (a
    profile would be looked up, credentials sent)."""
    exports = {**NO_AWS_FILES, **s3_env, "ENVIRONMENT": environment, "DAG_BUCKET": bucket}
    if signing_key is not None:
        exports["DAG_SIGNING_KEY"] = f"file:{signing_key}"
    if airflow is not None:
        url, user, password = airflow
        exports |= {"AIRFLOW_API_URL": url, "AIRFLOW_API_USERNAME": user, "AIRFLOW_API_PASSWORD": password}
    lines = ["# The running demo's S3 endpoint, bucket, environment, signing key and Airflow API (for --wait),",
             "# for airflow-dag-publisher.",
             "# Written by `make demo`; valid while it runs.  Usage: . .local/demo/env.sh",
             "# Forget this shell's AWS settings (profile, credentials, config files): the demo's S3 is local.",
             shell_unset_aws()]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in exports.items()]
    lines.append(f'export PATH={shlex.quote(str(venv_bin))}:"$PATH"')
    return "\n".join(lines) + "\n"


class DemoError(Exception):
    """A step failed; the message says which and where to look."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def package_image(package: str) -> str:
    """The image a package's jobs run (its jobs.yaml), recorded in the manifest as CI does."""
    import yaml

    spec = ROOT / "packages" / package / "jobs.yaml"
    try:
        image = (yaml.safe_load(spec.read_text()) or {}).get("image")
    except (OSError, yaml.YAMLError):
        image = None
    return str(image or f"registry.example.com/data/{package.replace('_', '-')}:demo")


class DagWatcher(threading.Thread):
    """Polls Airflow's /api/v2/dags and records when each dag_id was first seen (epoch seconds)."""

    def __init__(self, airflow: DemoAirflow, interval: float = 0.5) -> None:
        super().__init__(name="dag-watcher", daemon=True)
        self.airflow = airflow
        self.interval = interval
        self.first_seen: dict[str, float] = {}
        self.last_error = ""
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                now = time.time()
                dag_ids = self.airflow.dag_ids()
                for dag_id in dag_ids:
                    self.first_seen.setdefault(dag_id, now)
                self.last_error = ""
            except Exception as exc:  # keep polling: the api-server may be busy
                self.last_error = str(exc)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=15)


class Publishing(threading.Thread):
    """The example packages' publish jobs, in the background while Airflow starts."""

    def __init__(self, stack: DemoStack) -> None:
        super().__init__(name="publishing", daemon=True)
        self.stack = stack
        self.runs: list[CiRun] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.runs = self.stack.publish_examples()
        except BaseException as exc:  # handed to the main thread by result()
            self.error = exc

    def result(self, timeout: float) -> list[CiRun]:
        deadline = time.monotonic() + timeout
        while self.is_alive():
            self.stack.check_services()
            if time.monotonic() > deadline:
                raise DemoError(f"the publish jobs did not finish within {timeout:.0f} s; see "
                                f"{self.stack.run_dir / 'ci'}/*/job.log")
            self.join(timeout=0.5)
        if self.error is not None:
            raise self.error
        return self.runs


class DemoStack:
    def __init__(self, settings: DemoSettings, *, local: Path = LOCAL,
                 say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.run_dir = local / "demo"
        self.cache_dir = local / "demo-cache"
        self.say = say
        self.supervisor = Supervisor(self.run_dir / "pids.json", self.run_dir / "logs")
        self.s3: SeaweedFS | None = None
        self.airflow: DemoAirflow | None = None
        self.metrics_port = 0
        self.base_env: dict[str, str] = {}
        # The demo's release signing: one local key (production: a KMS key per package) that the
        # agent's trust file lists for both example packages; the agent requires signatures.
        self.signing_key = self.run_dir / "signing" / "demo-key.pem"
        self.trust_file = self.run_dir / "signing" / "trust.yaml"

    # --- start ----------------------------------------------------------------------------------

    def clean_previous_run(self) -> None:
        """Stop what a killed run left behind (recorded pids only), then wipe its folder."""
        pid_file = self.run_dir / "pids.json"
        owner = read_pid_file(pid_file).get("demo", {})
        owner_pid = owner.get("pid") if isinstance(owner, dict) else None
        if (isinstance(owner_pid, int) and owner_pid != os.getpid() and _alive(owner_pid)
                and start_ticks(owner_pid) == owner.get("start")):
            raise DemoError(f"a demo is already running (pid {owner_pid}); stop it with Ctrl-C in its terminal "
                            f"or `kill -INT {owner_pid}`")
        stale = stop_stale(pid_file)
        if stale:
            self.say(f"stopped what a previous demo left running: {', '.join(stale)}")
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        self.supervisor.record("demo", os.getpid())

    def start_s3(self) -> None:
        # With an identity, as AWS does: every request's SigV4 signature is verified, a wrong secret refused;
        # the agent and the publish jobs get the devstack credentials (s3.env()), and so does env.sh.
        self.s3 = SeaweedFS(self.run_dir / "s3", log_path=self.run_dir / "logs" / "seaweedfs.log", start_timeout=90,
                            identity=True)
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self.s3.start()
        except RuntimeError as exc:
            raise DemoError(f"SeaweedFS did not start: {exc}") from None
        finally:
            if self.s3.proc is not None:
                self.supervisor.record("seaweedfs", self.s3.proc.pid)
        self.s3.create_bucket(self.settings.bucket, environments=())
        self._declare_environment()
        self.base_env = self._base_env()

    def _declare_environment(self) -> None:
        """`<env>/_environment.json`, as Terraform writes it: the demo's agent requires signatures when
        the environment's trust ConfigMap says so, and then the publisher refuses unsigned commits."""
        assert self.s3 is not None
        required = self.settings.sync_env.get("DAGSYNC_REQUIRE_SIGNATURES", "").lower() in ("1", "true", "yes")
        self.s3.declare_environment(self.settings.bucket, self.settings.env, require_signatures=required)

    def _base_env(self) -> dict[str, str]:
        """The environment of the agent and the publish jobs: none of the caller's AWS, Airflow or
        agent settings; the demo's S3."""
        assert self.s3 is not None
        return local_env(self.s3.env(), {"PYTHONUNBUFFERED": "1"}, drop_prefixes=("AIRFLOW", "DAGSYNC_"))

    def _write_env_sh(self) -> None:
        assert self.s3 is not None and self.airflow is not None
        text = env_sh(self.s3.env(), environment=self.settings.env, bucket=self.settings.bucket,
                      venv_bin=ROOT / ".venv" / "bin", signing_key=self.signing_key,
                      airflow=(self.airflow.url, ADMIN_USER, self.airflow.password))
        path = self.run_dir / "env.sh"
        path.write_text(text)
        path.chmod(0o600)  # it holds the demo's admin password

    def admin_password(self) -> str:
        path = self.cache_dir / "admin-password"
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(12) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def prepare_airflow(self) -> None:
        home = self.run_dir / "airflow"
        self.airflow = DemoAirflow(home, home / "dags", port=free_port(), config_env=self.settings.airflow_env(),
                                   cache_dir=self.cache_dir)
        try:
            self.airflow.prepare(self.admin_password())
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            raise DemoError(f"Airflow set-up failed: {exc}") from None
        self._write_env_sh()

    def make_signing_key(self) -> None:
        """The demo's signing key, and the agent's trust file listing its public key for each example
        package (in a cluster, the ConfigMap `manage.sh ENV trust` writes from Terraform's outputs)."""
        write_key(self.signing_key)
        pem = public_pem(self.signing_key)
        # Each example package, and "*": any other package published to the demo (the README's second
        # terminal, the tests) is signed with the same key through env.sh's DAG_SIGNING_KEY.
        self.trust_file.write_text(trust_yaml({**{package: [pem] for package in EXAMPLE_PACKAGES}, "*": [pem]}))

    def start_sync_agent(self) -> None:
        assert self.airflow is not None
        self.metrics_port = free_port()
        if not self.trust_file.exists():
            self.make_signing_key()
        # The ConfigMap's settings, with the demo's trust file in place of the pod's mounted one.
        env = {**self.base_env, **self.settings.sync_env, "DAGSYNC_TRUST_FILE": str(self.trust_file)}
        # The sidecar's arguments in the Helm values, with the demo's paths and a loopback metrics port.
        cmd = [str(ROOT / ".venv" / "bin" / "airflow-dag-sync"), f"--dags-dir={self.airflow.dags_dir}",
               f"--state-dir={self.airflow.home / 'dags-state'}", f"--metrics-port={self.metrics_port}",
               "--metrics-address=127.0.0.1", f"--packages-file={PACKAGES_FILE}"]
        if not Path(cmd[0]).exists():
            cmd[0] = shutil.which("airflow-dag-sync") or cmd[0]
        self.supervisor.start("airflow-dag-sync", cmd, env, cwd=self.run_dir)

    def start_airflow(self) -> None:
        """Airflow with one versioned bundle per package of the package list (`DEMO_PACKAGES_FILE`, default
        infra/airflow/packages.yaml), over the agent's folders, verified with the agent's trust file; its
        tasks reach the demo's S3 (a task of an older release fetches it by id)."""
        assert self.airflow is not None and self.s3 is not None
        require = self.settings.sync_env.get("DAGSYNC_REQUIRE_SIGNATURES", "").lower() in ("1", "true", "yes", "on")
        try:
            bundles = bundle_config_list(self.packages_file, env=self.settings.env, bucket=self.settings.bucket,
                                         dags_dir=self.airflow.dags_dir, state_dir=self.airflow.home / "dags-state",
                                         trust_file=self.trust_file, require_signatures=require)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            raise DemoError(f"the DAG bundle list: {exc}") from None
        self.airflow.config.update({"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundles, **self.s3.env()})
        self.airflow.start_recorded(self.supervisor)

    @property
    def packages_file(self) -> Path:
        return Path(os.environ.get("DEMO_PACKAGES_FILE") or ROOT / "infra" / "airflow" / "packages.yaml")

    def wait_ready(self, timeout: float) -> None:
        """Until the api-server answers, every component reports healthy and the agent is ready."""
        assert self.airflow is not None
        deadline = time.monotonic() + timeout
        waiting = "the api-server"
        while time.monotonic() < deadline:
            self.check_services()
            waiting = self._not_ready()
            if not waiting:
                return
            time.sleep(1)
        raise DemoError(f"not ready after {timeout:.0f} s: waiting for {waiting}; logs: {self.supervisor.log_dir}")

    def _not_ready(self) -> str:
        assert self.airflow is not None
        try:
            health = self.airflow._request("GET", "/api/v2/monitor/health", auth=False, timeout=5)
        except Exception:
            return "the api-server"
        pending = [name for name in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                   if (health.get(name) or {}).get("status") != "healthy"]
        if pending:
            return ", ".join(n.replace("_", "-") for n in pending)
        if not self.agent_ready():
            return "the sync agent (/readyz)"
        try:
            self.airflow.token()
        except Exception as exc:
            return f"the login ({exc})"
        return ""

    def agent_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=3) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def check_services(self) -> None:
        if self.airflow is not None:
            for name, proc in self.airflow.procs.items():
                if proc.poll() is not None:
                    raise DemoError(f"airflow {name} exited (code {proc.returncode}); last lines of "
                                    f"{self.airflow.log_path(name)}:\n{_tail(self.airflow.log_text(name))}")
        dead = self.supervisor.dead()
        if dead:
            service = dead[0]
            raise DemoError(f"{service.name} exited (code {service.proc.returncode}); "
                            f"last lines of {service.log_path}:\n{service.log_tail()}")

    def publish_examples(self) -> list[CiRun]:
        """Run the CI template's publish job for both example packages (in parallel, as two
        packages' pipelines would)."""
        runs: dict[str, CiRun] = {}

        def job(package: str) -> None:
            # Both examples are spec-only (infra/airflow/packages.yaml): their job generates the DAG files
            # from jobs.yaml with the image CI built and publishes the spec with them, in a checkout of its own.
            work = self.run_dir / "ci" / package
            checkout = work / "checkout"
            shutil.rmtree(checkout, ignore_errors=True)
            shutil.copytree(ROOT / "packages" / package / "airflow_dags", checkout / "airflow_dags")
            shutil.copyfile(ROOT / "packages" / package / "jobs.yaml", checkout / "jobs.yaml")
            runs[package] = run_publish_job(
                package=package, source_dir=checkout / "airflow_dags", spec=checkout / "jobs.yaml",
                packages_file=PACKAGES_FILE, image=package_image(package), env_name=self.settings.env,
                bucket=self.settings.bucket, base_env=self.base_env, work_dir=work,
                on_start=lambda pid: self.supervisor.adopt(f"publish-{package}", pid), signing_key=self.signing_key)

        threads = [threading.Thread(target=job, args=(p,), name=f"publish-{p}") for p in EXAMPLE_PACKAGES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = [r for r in runs.values() if r.returncode != 0]
        if failed:
            r = failed[0]
            raise DemoError(f"publishing {r.package} with the CI template failed (exit {r.returncode}); "
                            f"last lines of {r.log_path}:\n{r.tail()}")
        return [runs[p] for p in EXAMPLE_PACKAGES]

    def published_dag_ids(self) -> dict[str, list[str]]:
        """package -> dag_ids of its current release (the CI job's own `list --json` artifact)."""
        out: dict[str, list[str]] = {}
        for package in EXAMPLE_PACKAGES:
            rows = json.loads((self.run_dir / "ci" / package / "dag-list.json").read_text())
            out[package] = list(rows[0]["dag_ids"]) if rows else []
        return out

    def current_releases(self) -> dict[str, str]:
        """package -> the release id its CI job published (the job's own `list --json` artifact)."""
        out: dict[str, str] = {}
        for package in EXAMPLE_PACKAGES:
            rows = json.loads((self.run_dir / "ci" / package / "dag-list.json").read_text())
            if rows:
                out[package] = str(rows[0]["release_id"])
        return out

    def signature_problems(self) -> list[str]:
        """Each example package's current release must carry a signature its trusted key verifies."""
        assert self.s3 is not None
        trust = load_trust(str(self.trust_file), require=True)
        problems = []
        for package in EXAMPLE_PACKAGES:
            key = manifest_key(self.settings.env, package)
            body = self.s3.client().get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()
            manifest = parse_manifest(body, source=key)
            problem = signature_problem(manifest, trust.keys_for(package), require=True)
            if problem:
                problems.append(f"{package}: {problem}")
        return problems

    def commit_times(self) -> dict[str, float]:
        """package -> epoch seconds of its latest commit, from its journal keys."""
        assert self.s3 is not None
        client = self.s3.client()
        out: dict[str, float] = {}
        env = self.settings.env
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.settings.bucket,
                                                                   Prefix=journal_prefix(env))
        for page in pages:
            for obj in page.get("Contents", []):
                parsed = parse_journal_key(env, obj["Key"])
                if parsed is not None:
                    ms, package = parsed
                    out[package] = max(out.get(package, 0.0), ms / 1000)
        return out

    # --- stop -----------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop everything this run started (and only that); returns what needed SIGKILL."""
        if self.airflow is not None:
            self.airflow.stop(timeout=20)
        killed = self.supervisor.stop_all(timeout=20)
        if self.s3 is not None:
            self.s3.stop()
        (self.run_dir / "pids.json").unlink(missing_ok=True)
        return killed
