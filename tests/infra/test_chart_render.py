"""The Helm release of every environment, rendered offline from the vendored official chart with exactly
the command line `deploy_airflow.sh` runs (tests/infra/chart_render.py), and judged as a cluster would
judge it: the chart's values schema, Kubernetes 1.33's schemas (strict), the order Helm creates objects
in with `--wait` (hooks, init containers), claims and storage classes, image pulls, Secrets that stay
the same across upgrades, resource requests on every container, and every `kubectl .../NAME` of the docs.
The KubernetesExecutor variant (k8s/kubernetes-executor-values.yaml) is judged the same way."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.infra import chart_render as cr
from tests.infra.infra_helpers import INFRA, K8S, REPO, SCRIPTS

K8S_VERSION = "1.33.0"
CASES = [(env, variant) for env in cr.ENVS for variant in cr.VARIANTS]
IDS = [f"{env}-{variant}" for env, variant in CASES]
DOCS = [REPO / "docs" / "airflow" / name for name in ("DEPLOYMENT.md", "OPERATIONS.md", "README.md", "SECURITY.md")]
DOCS += [INFRA / "README.md", REPO / "README.md"]
DEPLOYMENT = REPO / "docs" / "airflow" / "DEPLOYMENT.md"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# Images anyone can pull without credentials (the chart's defaults).
PUBLIC_IMAGES = re.compile(r"^(docker\.io/)?(apache/airflow|library/[^/]+)[:@]"
                           r"|^quay\.io/prometheus/statsd-exporter[:@]")
ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


@pytest.fixture(params=CASES, ids=IDS)
def release(request: pytest.FixtureRequest) -> cr.Release:
    env, variant = request.param
    return cr.release(env, variant)


# --- what the chart and the API server accept ---------------------------------------------------------------------

def test_the_vendored_chart_is_the_one_the_script_installs_unmodified_with_its_license() -> None:
    script = (SCRIPTS / "deploy_airflow.sh").read_text()
    assert f'CHART_VERSION="${{CHART_VERSION:-{cr.CHART_VERSION}}}"' in script
    assert cr.chart().version == cr.CHART_VERSION
    for name in ("LICENSE", "NOTICE", "ORIGIN.md", "Chart.yaml", "values.schema.json"):
        assert (cr.CHART / name).is_file(), name
    assert "Apache License" in (cr.CHART / "LICENSE").read_text()
    for env in cr.ENVS:
        assert cr.helm_command(cr.deploy_dry_run(env)).chart_version == cr.CHART_VERSION


def test_values_pass_the_charts_schema(release: cr.Release) -> None:
    cr.chart().validate_schema(release.values)


def test_the_schema_check_refuses_a_value_of_the_wrong_type() -> None:
    import helm_python

    values = cr.json_copy(cr.release("dev").values)
    values["scheduler"]["replicas"] = "two"
    with pytest.raises(helm_python.HelmValuesError, match="replicas"):
        cr.chart().validate_schema(values)


def test_every_rendered_object_is_valid_kubernetes(release: cr.Release) -> None:
    problems = []
    objects = [(f"{r.kind}/{r.name}", r.obj) for r in release.objects]
    objects += [(where, {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "name": "worker"}, "spec": spec})
                for where, meta, spec in cr.pod_templates(release) if where.startswith("ConfigMap/")]
    for where, obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message}")
    assert not problems, "\n".join(problems)
    assert len(objects) >= 20


# --- the order Helm creates things in, with --wait --------------------------------------------------------------------

def phase(r: cr.Rendered, upgrade: bool = False) -> tuple[int, int]:
    """When Helm creates an object: pre-hooks (by weight), the release's manifest, post-hooks (by weight).
    With --wait, Helm waits for the manifest's workloads to be ready before it runs any post-hook."""
    pre, post = ("pre-upgrade", "post-upgrade") if upgrade else ("pre-install", "post-install")
    if pre in r.hooks:
        return (0, r.hook_weight)
    if post in r.hooks:
        return (2, r.hook_weight)
    if upgrade and r.hooks and r.hooks <= {"pre-install", "post-install"} and "hook-succeeded" not in r.annotations.get(
            "helm.sh/hook-delete-policy", ""):
        return (-1, 0)  # made at install and kept
    if r.hooks:
        return (9, 0)  # not run at this event at all
    return (1, 0)


def waits_for_migrations(spec: dict[str, Any]) -> list[str]:
    return [c["name"] for c in spec.get("initContainers") or []
            if "check-migrations" in " ".join([*(c.get("command") or []), *(c.get("args") or [])])]


def runs_migrations(spec: dict[str, Any]) -> bool:
    return any(re.search(r"\bdb (migrate|upgrade)\b", " ".join([*(c.get("command") or []), *(c.get("args") or [])]))
               for c in cr.containers(spec))


@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_wait_never_waits_for_pods_that_wait_for_a_post_hook(release: cr.Release, upgrade: bool) -> None:
    """The first install's deadlock: Helm `--wait`s for the scheduler, dag-processor and api-server, whose
    init containers wait for the database migrations, which a post-install hook would only run after the
    wait. The migration Job must be part of the manifest (or an earlier hook)."""
    assert "--wait" in release.command.flags
    jobs = [r for r in release.of_kind("Job") if runs_migrations(r.obj["spec"]["template"]["spec"])]
    assert jobs, "no Job runs the database migrations"
    waiting = [f"{r.kind}/{r.name} ({', '.join(names)})" for r in release.of_kind(*WORKLOADS)
               if phase(r, upgrade)[0] == 1 and (names := waits_for_migrations(r.obj["spec"]["template"]["spec"]))]
    assert waiting, "expected Airflow's pods to wait for the migrations"
    late = [f"Job/{j.name} runs at {sorted(j.hooks)}" for j in jobs if phase(j, upgrade)[0] > 1]
    assert not late, (f"helm --wait waits for {', '.join(waiting)}, which wait for the migrations, but "
                      f"{'; '.join(late)}: after the wait, so never")


def references(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of the ConfigMaps, Secrets and ServiceAccount a pod needs to start (optional ones left out)."""
    found: set[tuple[str, str]] = set()
    if spec.get("serviceAccountName"):
        found.add(("ServiceAccount", spec["serviceAccountName"]))
    for secret in spec.get("imagePullSecrets") or []:
        found.add(("Secret", secret["name"]))
    for volume in spec.get("volumes") or []:
        if "configMap" in volume and not volume["configMap"].get("optional"):
            found.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume and not volume["secret"].get("optional"):
            found.add(("Secret", volume["secret"]["secretName"]))
    for c in cr.containers(spec):
        for source in c.get("envFrom") or []:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source and not source[key].get("optional"):
                    found.add((kind, source[key]["name"]))
        for var in c.get("env") or []:
            ref = var.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in ref and not ref[key].get("optional"):
                    found.add((kind, ref[key]["name"]))
    return found


def prerequisites(env: str, variant: str = "local") -> set[tuple[str, str]]:
    """What deploy_airflow.sh checks exists (or creates) in the release's namespace before Helm runs."""
    extra = [a for path in cr.VARIANTS[variant] for a in ("--values", str(path))]
    found = set()
    for line in cr.deploy_dry_run(env, "install", *extra).splitlines():
        if not line.startswith("+ "):
            continue
        argv = shlex.split(line[2:])
        if "--namespace" in argv and argv[argv.index("--namespace") + 1] != cr.NAMESPACE:
            continue
        for verb in (("get", "secret"), ("create", "secret", "generic")):
            if len(argv) > len(verb) and tuple(argv[1:1 + len(verb)]) == verb:
                found.add(("Secret", argv[1 + len(verb)]))
        if argv[1:3] == ["apply", "-f"]:  # the objects of the files it applies first (issue 26: the agents' list)
            for doc in yaml.safe_load_all(Path(argv[3]).read_text()):
                if doc and doc.get("metadata", {}).get("namespace") == cr.NAMESPACE:
                    found.add((doc["kind"], doc["metadata"]["name"]))
    return found


@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_everything_a_pod_needs_exists_before_it(release: cr.Release, upgrade: bool) -> None:
    """Each ConfigMap, Secret and ServiceAccount a pod of the release names is created no later than the
    pod (a hook's pod cannot use what the manifest creates after it), or is a prerequisite the script
    checks or creates first."""
    given = prerequisites(release.env, release.variant)
    by_name = {(r.kind, r.name): r for r in release.objects}
    problems = []
    for r in release.objects:
        if r.kind not in (*WORKLOADS, "Job") or phase(r, upgrade)[0] == 9:
            continue
        for ref in sorted(references(r.obj["spec"]["template"]["spec"])):
            target = by_name.get(ref)
            if target is None:
                if ref not in given:
                    problems.append(f"{r.kind}/{r.name} needs {ref[0]}/{ref[1]}, which neither the chart nor "
                                    "deploy_airflow.sh provides")
            elif phase(target, upgrade) > phase(r, upgrade):
                problems.append(f"{r.kind}/{r.name} (at {phase(r, upgrade)}) needs {ref[0]}/{ref[1]}, created "
                                f"later (at {phase(target, upgrade)})")
    assert not problems, "\n".join(problems)


def test_the_guides_prerequisites_name_every_secret_the_script_checks_or_creates() -> None:
    prerequisites_text = DEPLOYMENT.read_text().split("## Prerequisites", 1)[1].split("\n## ", 1)[0]
    secrets = {name for kind, name in prerequisites("dev") if kind == "Secret"}
    assert {"airflow-metadata-db", "registry-pull", "airflow-fernet-key", "airflow-jwt-key",
            "airflow-api-key"} <= secrets
    missing = sorted(name for name in secrets if f"`{name}`" not in prerequisites_text)
    assert not missing, f"DEPLOYMENT.md's prerequisites do not name {missing}"


def test_the_agents_configmaps_are_release_objects_not_hooks(release: cr.Release) -> None:
    """A hook ConfigMap is deleted and created again at every upgrade (pods restarting in between fail to
    mount it), is not restored by `helm rollback` and is left behind by `helm uninstall`."""
    for name in ("airflow-dag-sync", "airflow-dag-sync-trust"):
        cm = release.find("ConfigMap", name)
        assert cm is not None, name
        assert not cm.hooks, f"ConfigMap {name} is a Helm hook ({sorted(cm.hooks)})"


# --- volumes, images, secrets, resources ------------------------------------------------------------------------------

def claims(release: cr.Release) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"PersistentVolumeClaim/{r.name}", r.obj["spec"]) for r in release.of_kind("PersistentVolumeClaim")]
    for r in release.of_kind("StatefulSet"):
        found += [(f"StatefulSet/{r.name} claim {t['metadata']['name']}", t["spec"])
                  for t in r.obj["spec"].get("volumeClaimTemplates") or []]
    return found


def test_no_volume_claim_depends_on_a_default_storage_class(release: cr.Release) -> None:
    """A claim without a storage class stays Pending on a cluster without a default class (EKS since
    1.30 marks none as default, and EBS volumes need the EBS CSI driver). Every claim names its class and
    the deployment guide's prerequisites name that class; the shipped values make no claim at all."""
    guide = DEPLOYMENT.read_text()
    problems = []
    for where, spec in claims(release):
        klass = spec.get("storageClassName")
        if not klass:
            problems.append(f"{where} ({spec['resources']['requests']['storage']}) names no storage class")
        elif f"`{klass}`" not in guide.split("## 1.")[0]:
            problems.append(f"{where}: storage class {klass!r} is not among DEPLOYMENT.md's prerequisites")
    assert not problems, "\n".join(problems)
    if release.variant == "local":
        assert claims(release) == []


def registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first or first == "localhost") else "docker.io"


def test_every_image_can_be_pulled(release: cr.Release) -> None:
    """A private image needs the pod to carry an imagePullSecret that deploy_airflow.sh checks exists
    (or comes from ECR in the cluster's account, which EKS nodes pull from by their role)."""
    given = prerequisites(release.env, release.variant)
    problems = []
    for where, _meta, spec in cr.pod_templates(release):
        secrets = {("Secret", s["name"]) for s in spec.get("imagePullSecrets") or []}
        for c in cr.containers(spec):
            image = c["image"]
            if PUBLIC_IMAGES.match(image) or ECR.match(image):
                continue
            if not secrets:
                problems.append(f"{where} container {c['name']}: {image} is private ({registry_of(image)}) and "
                                "the pod has no imagePullSecrets")
            elif not secrets <= given:
                problems.append(f"{where}: imagePullSecrets {sorted(n for _, n in secrets - given)} are not checked "
                                "by deploy_airflow.sh")
    assert not problems, "\n".join(problems)


def test_the_agent_image_tag_is_one_the_pipeline_pushes() -> None:
    """The values name the agent by its version tag, which the root pipeline pushes from a git tag of that
    version (the default branch pushes `<version>-<sha>`); the guide says to tag before the first install."""
    from airflow_dag_publisher import __version__

    values = yaml.safe_load((K8S / "airflow-values.yaml").read_text())
    image = values["scheduler"]["extraContainers"][0]["image"]
    assert image.rsplit(":", 1)[1] == __version__
    pipeline = (REPO / ".gitlab-ci.yml").read_text()
    assert '--destination "${AGENT_IMAGE}:${AGENT_VERSION}"' in pipeline
    assert '"$CI_COMMIT_TAG" != "v${AGENT_VERSION}"' in pipeline  # a tag of another version pushes nothing
    assert f"git tag v{__version__}" in DEPLOYMENT.read_text()


@pytest.mark.parametrize("variant", list(cr.VARIANTS))
def test_secrets_and_config_are_the_same_at_every_upgrade(variant: str) -> None:
    """Rendered twice for an upgrade, every object Helm applies is the same: nothing random (the chart's
    JWT secret and API secret key were `randAlphaNum` at every upgrade, so one restarted pod disagreed
    with the others). Hooks that run only at install keep what they made."""
    rel = cr.release("dev", variant, "upgrade")
    first, _ = cr.render_values(rel.values, upgrade=True)
    second, _ = cr.render_values(rel.values, upgrade=True)
    applied = {(r.kind, r.name): r.obj for r in first if phase(r, upgrade=True)[0] != 9}
    again = {(r.kind, r.name): r.obj for r in second if phase(r, upgrade=True)[0] != 9}
    assert applied.keys() == again.keys()
    changed = sorted(f"{k}/{n}" for (k, n), obj in applied.items() if again[(k, n)] != obj)
    assert not changed, f"objects that differ between two renders of the same upgrade: {changed}"


def test_every_container_requests_cpu_and_memory(release: cr.Release) -> None:
    problems = []
    for where, _meta, spec in cr.pod_templates(release):
        for c in cr.containers(spec):
            requests = (c.get("resources") or {}).get("requests") or {}
            limits = (c.get("resources") or {}).get("limits") or {}
            missing = [k for k in ("cpu", "memory") if k not in requests]
            if missing:
                problems.append(f"{where} container {c['name']}: no {' or '.join(missing)} request")
            elif "memory" not in limits:
                problems.append(f"{where} container {c['name']}: no memory limit")
    assert not problems, "\n".join(problems)


# --- Airflow's configuration -----------------------------------------------------------------------------------------

def known_options() -> dict[str, set[str]]:
    """Every option Airflow 3.3.2 and the providers the image runs with describe (their config.yml)."""
    import importlib.util

    from airflow.providers_manager import ProvidersManager

    spec = importlib.util.find_spec("airflow")
    assert spec and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "config_templates" / "config.yml"
    known = {s: set(body.get("options", {})) for s, body in yaml.safe_load(path.read_text()).items()}
    for _provider, sections in ProvidersManager().provider_configs:
        for section, body in sections.items():
            known.setdefault(section, set()).update(body.get("options", {}))
    for section, options in IMAGE_ONLY_OPTIONS.items():
        known.setdefault(section, set()).update(options)
    return known


# Options of providers the apache/airflow image ships that this .venv does not install: the fab
# provider (the chart's auth manager is FabAuthManager) reads [fab] enable_proxy_fix.
IMAGE_ONLY_OPTIONS = {"fab": {"enable_proxy_fix"}}


@pytest.mark.parametrize("variant", list(cr.VARIANTS))
def test_airflow_cfg_holds_only_options_airflow_knows(variant: str) -> None:
    """The chart's defaults written for older Airflow ([scheduler] run_duration, [webserver] rbac, the
    [kubernetes] section, ...) are removed in the values: Airflow 3.3.2 warns about each at every start."""
    rel = cr.release("dev", variant)
    cm = rel.find("ConfigMap", "airflow-config")
    assert cm is not None
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(cm.obj["data"]["airflow.cfg"])
    known = known_options()
    unknown = [f"[{s}] {o}" for s in parser.sections() for o in parser.options(s) if o not in known.get(s, set())]
    assert not unknown, f"options Airflow 3.3.2 does not know: {unknown}"
    assert parser.get("dag_processor", "bundle_refresh_check_interval") == "60"
    bundles = json.loads(parser.get("dag_processor", "dag_bundle_config_list"))  # the JSON survives the chart
    assert "dagsync-parse-requests" not in {b["name"] for b in bundles}  # the feed's process has its own list


@pytest.mark.parametrize("env", cr.ENVS)
def test_the_parse_requests_container_runs_as_the_dag_processor_does(env: str) -> None:
    """The parse-requests process beside the dag-processor: the same image, the same Airflow
    environment (database, keys) and the same configuration and DAGs mounts, read-only DAGs."""
    rel = cr.release(env)
    dep = rel.find("Deployment", "airflow-dag-processor")
    assert dep is not None
    spec = dep.obj["spec"]["template"]["spec"]
    main = next(c for c in spec["containers"] if c["name"] == "dag-processor")
    feed = next(c for c in spec["containers"] if c["name"] == "parse-requests")
    assert feed["image"] == main["image"]
    own = {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL"}
    assert [e for e in feed["env"] if e["name"] not in own] == main["env"]
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    for mount in feed["volumeMounts"]:
        assert mounts[mount["mountPath"]] == mount, mount
    assert {m["mountPath"] for m in feed["volumeMounts"]} >= {"/opt/airflow/dags", "/opt/airflow/dags-state",
                                                             "/opt/airflow/airflow.cfg", "/opt/airflow/logs"}
    assert feed["resources"]["requests"] and feed["securityContext"]["allowPrivilegeEscalation"] is False


# --- the docs' kubectl commands --------------------------------------------------------------------------------------

KINDS = {"deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
         "sts": "StatefulSet", "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "svc": "Service",
         "service": "Service",
         "job": "Job", "jobs": "Job", "cm": "ConfigMap", "configmap": "ConfigMap", "secret": "Secret",
         "sa": "ServiceAccount", "serviceaccount": "ServiceAccount", "ds": "DaemonSet", "daemonset": "DaemonSet"}


def doc_references(text: str) -> list[tuple[str, str | None, str, str, str | None]]:
    """(line, namespace, kind, name, container) of every `kubectl ... TYPE/NAME [-c CONTAINER]`."""
    found = []
    for line in cr.kubectl_lines([text]):
        command = re.split(r"\s(?:\||&&|;|&)\s?", line)[0]
        try:
            argv = shlex.split(command)
        except ValueError:
            continue
        namespace = container = None
        for i, arg in enumerate(argv):
            if arg in ("-n", "--namespace") and i + 1 < len(argv):
                namespace = argv[i + 1]
            elif arg.startswith("--namespace="):
                namespace = arg.split("=", 1)[1]
            elif arg in ("-c", "--container") and i + 1 < len(argv):
                container = argv[i + 1]
        for arg in argv:
            kind, _, name = arg.partition("/")
            if name and kind in KINDS and re.fullmatch(r"[a-z0-9][-a-z0-9.]*", name):
                found.append((" ".join(line.split()), namespace, KINDS[kind], name, container))
    return found


def cluster_objects(rel: cr.Release) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(namespace, kind, name) -> object: the release's and every manifest deploy_airflow.sh applies."""
    objects = {(cr.NAMESPACE, r.kind, r.name): r.obj for r in rel.objects}
    for path in K8S.glob("*.yaml"):
        if path.name.endswith("values.yaml"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "metadata" in doc:
                objects[(doc["metadata"].get("namespace", ""), doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def test_doc_reference_parsing() -> None:
    text = ("kubectl -n airflow exec deploy/airflow-scheduler -c scheduler -- airflow dags list | grep x\n"
            "kubectl -n airflow port-forward \\\n  deploy/airflow-dag-processor 9108:9108 &\n")
    assert doc_references(text) == [
        ("kubectl -n airflow exec deploy/airflow-scheduler -c scheduler -- airflow dags list | grep x", "airflow",
         "Deployment", "airflow-scheduler", "scheduler"),
        ("kubectl -n airflow port-forward deploy/airflow-dag-processor 9108:9108 &", "airflow", "Deployment",
         "airflow-dag-processor", None)]


def test_every_kubectl_name_in_the_docs_is_a_rendered_object() -> None:
    """`kubectl exec deploy/airflow-scheduler` named a StatefulSet: each TYPE/NAME (and `-c CONTAINER`) of
    the docs is an object of the shipped release (or of the manifests the script applies) in that namespace."""
    objects = cluster_objects(cr.release("dev"))
    problems = []
    count = 0
    for doc in DOCS:
        for line, namespace, kind, name, container in doc_references(doc.read_text()):
            count += 1
            matches = [obj for (ns, k, n), obj in objects.items() if k == kind and n == name
                       and (namespace is None or ns == namespace)]
            if not matches:
                problems.append(f"{doc.relative_to(REPO)}: {kind} {name} (namespace {namespace}) is not rendered: "
                                f"{line}")
                continue
            if container:
                spec = matches[0]["spec"]["template"]["spec"] if kind in (*WORKLOADS, "Job") else {}
                names = {c["name"] for c in cr.containers(spec)}
                if container not in names:
                    problems.append(f"{doc.relative_to(REPO)}: {kind}/{name} has no container {container!r} "
                                    f"({sorted(names)}): {line}")
    assert not problems, "\n".join(problems)
    assert count >= 5


def flag_value(container: dict[str, Any], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in container.get("args") or [] if a.startswith(f"--{name}=")), None)


def test_in_an_s3_outage_new_pods_wait_and_running_pods_stay_ready(release: cr.Release) -> None:
    """Every agent init container retries (--retry-for) instead of failing in a second; every sidecar's
    readiness survives an outage (--ready-max-age=0) so a `--wait` upgrade during one is not failed by
    pods that hold their releases."""
    inits = sidecars = 0
    for where, _meta, spec in cr.pod_templates(release):
        for c in spec.get("initContainers") or []:
            if c["name"] == "dag-sync-init":
                inits += 1
                assert float(flag_value(c, "retry-for") or 0) >= 60, where
        for c in spec.get("containers") or []:
            if c["name"] == "dag-sync":
                sidecars += 1
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert flag_value(c, "ready-max-age") == "0", where
    # scheduler, dag-processor, triggerer; a KubernetesExecutor task pod runs no agent (its bundle fetches
    # its task's release by id)
    assert sidecars == 3 and inits == 3


def test_the_scripts_log_selectors_match_the_rendered_pods() -> None:
    """`deploy_airflow.sh logs COMPONENT CONTAINER` selects pods by `release` and `component` labels."""
    rel = cr.release("dev")
    for component in ("scheduler", "dag-processor", "triggerer", "api-server"):
        pods = [spec for where, meta, spec in cr.pod_templates(rel)
                if (meta.get("labels") or {}).get("component") == component
                and (meta.get("labels") or {}).get("release") == cr.RELEASE]
        assert pods, component
        names = {c["name"] for spec in pods for c in cr.containers(spec)}
        if component != "api-server":
            assert {"dag-sync", "dag-sync-init"} <= names, component
