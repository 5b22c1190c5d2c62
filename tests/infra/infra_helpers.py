"""Shared helpers of the infra tests: paths, rendering of the Terraform policy templates exactly as
templatefile() does for the placeholders they use, a small IAM evaluator for the condition keys
moto does not evaluate, and a moto server on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "airflow"
TERRAFORM = INFRA / "terraform"
POLICIES = TERRAFORM / "policies"
K8S = INFRA / "k8s"
PACKAGES_FILE = INFRA / "packages.yaml"
SCRIPTS = INFRA / "scripts"
DATA = Path(__file__).resolve().parent / "data"
VENV_BIN = Path(sys.executable).parent

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_placeholders(name: str) -> set[str]:
    return set(PLACEHOLDER.findall((POLICIES / name).read_text()))


def render(name: str, **variables: str) -> dict[str, Any]:
    """Render policies/<name> like Terraform's templatefile() and parse the JSON.

    The templates use plain `${var}` interpolation only (no `%{}` directives, no `$${}` escapes):
    test_terraform checks that, so this substitution is exactly what Terraform produces."""
    text = (POLICIES / name).read_text()
    missing = template_placeholders(name) - variables.keys()
    if missing:
        raise KeyError(f"{name}: no value for {sorted(missing)}")
    rendered = PLACEHOLDER.sub(lambda m: variables[m.group(1)], text)
    return json.loads(rendered)  # type: ignore[no-any-return]


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def airflow_read_policy(bucket: str, env: str) -> dict[str, Any]:
    return render("airflow_read.json.tpl", bucket_arn=bucket_arn(bucket), environment=env)


def ci_publish_policy(bucket: str, env: str, package: str) -> dict[str, Any]:
    return render("ci_publish.json.tpl", bucket_arn=bucket_arn(bucket), environment=env, package=package)


def ci_promote_policy(source_bucket: str, source_env: str, package: str) -> dict[str, Any]:
    return render("ci_promote.json.tpl", source_bucket_arn=bucket_arn(source_bucket), source_environment=source_env,
                  package=package)


# --- a minimal IAM evaluator (identity policies; explicit deny wins; conditions evaluated) ------

_SUPPORTED = {"StringLike", "StringNotLike", "StringEquals", "StringNotEquals", "Bool"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    if operator not in _SUPPORTED:
        raise NotImplementedError(f"condition operator {operator} is not modelled by this evaluator")
    present = key in context
    value = context.get(key, "")
    wanted = [str(v) for v in _as_list(expected)]
    if operator == "StringLike":
        return present and any(_glob(w, value) for w in wanted)
    if operator == "StringNotLike":
        return not present or not any(_glob(w, value) for w in wanted)
    if operator == "StringEquals":
        return present and value in wanted
    if operator == "StringNotEquals":
        return not present or value not in wanted
    return present and value.lower() in [w.lower() for w in wanted]  # Bool


def _statement_applies(st: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    if "Action" in st:
        if not any(_glob(a, action, case=False) for a in _as_list(st["Action"])):
            return False
    elif any(_glob(a, action, case=False) for a in _as_list(st["NotAction"])):
        return False
    if "Resource" in st:
        if not any(_glob(r, resource) for r in _as_list(st["Resource"])):
            return False
    elif any(_glob(r, resource) for r in _as_list(st["NotResource"])):
        return False
    for operator, keys in st.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def iam_allows(policies: Iterable[Mapping[str, Any]], action: str, resource: str,
               context: Mapping[str, str] | None = None) -> bool:
    allowed = False
    for doc in policies:
        for st in _as_list(doc["Statement"]):
            if _statement_applies(st, action, resource, context or {}):
                if st["Effect"] == "Deny":
                    return False
                allowed = True
    return allowed


# --- moto server ------------------------------------------------------------------------------

def create_users(iam: Any, policies: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, tuple[str, str]]:
    """Create one IAM user per name with its policies attached; its (access key id, secret) by name."""
    keys = {}
    for who, docs in policies.items():
        iam.create_user(UserName=who)
        for i, doc in enumerate(docs):
            arn = iam.create_policy(PolicyName=f"{who}-{i}", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
            iam.attach_user_policy(UserName=who, PolicyArn=arn)
        cred = iam.create_access_key(UserName=who)["AccessKey"]
        keys[who] = (cred["AccessKeyId"], cred["SecretAccessKey"])
    return keys


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """`moto_server` on a free loopback port. IAM is not enforced until enforce() is called (the
    set-up calls run under INITIAL_NO_AUTH_ACTION_COUNT); after that every request is checked
    against the caller's IAM policies."""

    def __init__(self, log_path: Path, start_timeout: float = 30.0, *, kms_resources: bool = False) -> None:
        self.kms_resources = kms_resources  # authorise KMS requests against their key (tests/infra/moto_kms.py)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="100000", MOTO_PORT=str(self.port))
        env.pop("AWS_ENDPOINT_URL", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*self._command(), "-H", "127.0.0.1", "-p", str(self.port)], cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        for _ in range(int(self.start_timeout / 0.1) + 1):
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server not ready after {self.start_timeout}s; see {self.log_path}")

    def _command(self) -> list[str]:
        if self.kms_resources:
            return [sys.executable, "-m", "tests.infra.moto_kms"]
        return [str(VENV_BIN / "moto_server")]

    def enforce(self) -> None:
        """From now on, every request is authorised by IAM (no more unauthenticated actions)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def client(self, service: str, key: str = "test", secret: str = "test") -> Any:
        import boto3
        import botocore.config

        cfg = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                     connect_timeout=2, read_timeout=10)
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=key, aws_secret_access_key=secret, config=cfg,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# --- Terraform expressions evaluated by terraform itself, without a provider -------------------

_LOCAL_ENTRY = re.compile(r"^  ([a-z_]+)\s*=\s*", re.M)


def terraform_locals(path: Path) -> dict[str, str]:
    """The entries of the first `locals` block of a .tf file: name -> expression text."""
    text = path.read_text()
    start = text.index("locals {\n") + len("locals {\n")
    body = text[start:text.index("\n}\n", start)]
    body = "\n".join(line for line in body.splitlines() if not line.startswith("  #"))
    matches = list(_LOCAL_ENTRY.finditer(body))
    return {m.group(1): body[m.end():(matches[i + 1].start() if i + 1 < len(matches) else len(body))].strip()
            for i, m in enumerate(matches)}


def terraform_eval(workdir: Path, locals_: Mapping[str, str], outputs: Iterable[str], *,
                   variables: Mapping[str, Any] | None = None) -> Path:
    """A module of these locals and outputs (no provider, local state), applied by the real terraform
    in `workdir`; returns the module folder, whose state `terraform output` reads."""
    module = workdir / "module"
    module.mkdir(parents=True)
    body = "".join(f"  {name} = {expr}\n" for name, expr in locals_.items())
    declared = "".join(f'variable "{name}" {{}}\n' for name in (variables or {}))
    outs = "".join(f'output "{name}" {{\n  value = local.{name}\n}}\n' for name in outputs)
    (module / "main.tf").write_text(f"{declared}locals {{\n{body}}}\n{outs}")
    (module / "terraform.tfvars.json").write_text(json.dumps(dict(variables or {})))
    env = terraform_env(workdir)
    proc = subprocess.run(["terraform", f"-chdir={module}", "apply", "-auto-approve", "-input=false", "-no-color"],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    if proc.returncode != 0:
        raise AssertionError(proc.stdout + proc.stderr)
    return module


def terraform_env(workdir: Path) -> dict[str, str]:
    (workdir / "empty.tfrc").write_text("")
    return dict(os.environ, TF_CLI_CONFIG_FILE=str(workdir / "empty.tfrc"), TF_IN_AUTOMATION="1",
                HOME=str(workdir))
