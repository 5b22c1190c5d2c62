"""jobs.yaml loading: defaults merge, and every bad field reported with its path and line."""

from __future__ import annotations

import pytest
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.generator.spec import SpecError, dotted, parse_spec

IMAGE = "registry.example.com/acme/jobs:1.0.0"


def problems_of(text: str, **kwargs: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "jobs.yaml", **kwargs)
    return info.value.problems


def test_dotted_paths_name_list_items_by_index() -> None:
    assert dotted(("jobs", 2, "resources", "limits", "memory")) == "jobs[2].resources.limits.memory"


def test_a_minimal_spec_gets_conventional_defaults() -> None:
    spec = parse_spec(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: load\n", "jobs.yaml")
    (job,) = spec.jobs
    assert (job.dag_id, job.command, job.schedule) == ("acme_load", ("python", "-m", "acme.jobs.load"), None)
    assert (job.retries, job.retry_delay_seconds, job.execution_timeout_seconds) == (2, 300, 3600)
    assert (job.resources.cpu_request, job.resources.memory_request) == ("100m", "256Mi")
    assert (job.resources.cpu_limit, job.resources.memory_limit) == ("1", "512Mi")
    assert (job.tags, job.owner) == (("acme",), "acme")


def test_defaults_apply_to_every_job_and_mappings_merge() -> None:
    spec = parse_spec(
        f"package: acme\nimage: {IMAGE}\n"
        "defaults:\n  retries: 4\n  labels: {team: a}\n  resources: {limits: {memory: 2Gi}}\n"
        "jobs:\n  - name: one\n    labels: {tier: gold}\n    resources: {limits: {cpu: '3'}}\n  - name: two\n"
        "    retries: 0\n",
        "jobs.yaml")
    one, two = spec.jobs
    assert one.labels == (("team", "a"), ("tier", "gold")) and one.retries == 4
    assert (one.resources.cpu_limit, one.resources.memory_limit) == ("3", "2Gi")
    assert two.retries == 0 and two.labels == (("team", "a"),)


def test_an_unset_limit_follows_a_large_request_and_an_unset_request_a_small_limit() -> None:
    spec = parse_spec(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: big\n    resources:\n"
                      "      requests: {cpu: '4', memory: 8Gi}\n  - name: small\n    resources:\n"
                      "      limits: {cpu: 50m, memory: 64Mi}\n", "jobs.yaml")
    big, small = spec.jobs
    assert (big.resources.cpu_limit, big.resources.memory_limit) == ("4", "8Gi")
    assert (small.resources.cpu_request, small.resources.memory_request) == ("50m", "64Mi")


def test_every_bad_field_is_reported_with_its_line() -> None:
    problems = problems_of(
        "package: acme\n"                       # 1
        f"image: {IMAGE}\n"                     # 2
        "jobs:\n"                               # 3
        "  - name: ok_job\n"                    # 4
        "  - name: Bad-Name\n"                  # 5
        "    retires: 3\n"                      # 6
        "  - name: third\n"                     # 7
        "    resources:\n"                      # 8
        "      requests: {cpu: 2, memory: 1Gi}\n"  # 9
        "      limits:\n"                       # 10
        "        cpu: 1\n"                      # 11
        "        memory: 512m\n"                # 12
        "    tolerations:\n"                    # 13
        "      - {key: a, operator: Exists, value: b}\n"  # 14
        "    labels: {dag_id: x, 'bad key!': y}\n"  # 15
        "    env: {OK: yes}\n"                  # 16
    )
    assert problems == [
        "jobs.yaml:5: jobs[1].name: 'Bad-Name' is not a valid job name (expected ^[a-z][a-z0-9_]{0,62}$)",
        "jobs.yaml:6: jobs[1].retires: unknown field 'retires'; did you mean 'retries'?",
        "jobs.yaml:9: jobs[2].resources.requests.cpu: request 2 is greater than the cpu limit 1",
        "jobs.yaml:12: jobs[2].resources.limits.memory: '512m' means 0.512 bytes (suffix m is milli); "
        "did you mean '512Mi'?",
        "jobs.yaml:14: jobs[2].tolerations[0].value: must be empty when operator is Exists",
        "jobs.yaml:15: jobs[2].labels.dag_id: label 'dag_id' is set by KubernetesPodOperator itself",
        "jobs.yaml:15: jobs[2].labels.bad key!: label key 'bad key!' is not valid (at most 63 characters: letters, "
        "digits, '-', '_', '.', starting and ending with a letter or digit, optionally after a 'prefix/')",
        "jobs.yaml:16: jobs[2].env.OK: expected a string, got bool True; quote it",
    ]


def test_a_bad_default_is_reported_once_at_its_own_line() -> None:
    problems = problems_of(f"package: acme\nimage: {IMAGE}\ndefaults:\n  retry_delay: soon\n"
                           "jobs:\n  - name: a\n  - name: b\n")
    assert problems == ["jobs.yaml:4: defaults.retry_delay: 'soon' is not a duration (seconds, or e.g. 30s, 5m, "
                        "1h30m, 2d)"]


def test_missing_fields_point_at_the_job() -> None:
    problems = problems_of("jobs:\n  - schedule: '@daily'\n")
    assert "jobs.yaml:1: package: required (or pass --package / set PACKAGE_NAME)" in problems
    assert "jobs.yaml:2: jobs[0].name: required" in problems
    assert any(p.startswith("jobs.yaml:2: jobs[0].image: required") for p in problems)


def test_duplicate_job_names_and_duplicate_keys_are_refused() -> None:
    problems = problems_of(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: a\n    retries: 1\n    retries: 2\n"
                           "  - name: a\n")
    assert "jobs.yaml:6: jobs[0].retries: duplicate key" in problems
    assert "jobs.yaml:7: jobs[1].name: 'a' is also the name of jobs[0]" in problems


def test_yaml_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(UsageError, match=r"^jobs\.yaml:\d+:\d+: not valid YAML: expected ',' or ']'"):
        parse_spec("package: acme\njobs:\n  - name: [unclosed\n", "jobs.yaml")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_is_refused(text: str) -> None:
    (problem,) = problems_of(text)
    assert problem.endswith(["jobs.yaml", " expected a mapping with package, image, defaults and jobs"][1])
    assert problem.startswith("jobs.yaml")


def test_the_package_from_the_environment_fills_a_spec_without_one() -> None:
    spec = parse_spec(f"image: {IMAGE}\njobs:\n  - name: a\n", "jobs.yaml", package="acme")
    assert spec.package == "acme"


def test_an_image_in_defaults_and_top_level_is_ambiguous() -> None:
    problems = problems_of(f"package: acme\nimage: {IMAGE}\ndefaults: {{image: {IMAGE}}}\njobs:\n  - name: a\n")
    assert problems == ["jobs.yaml:3: defaults.image: set the image once: top-level image or defaults.image"]


def test_a_toleration_the_cluster_policy_refuses_is_refused_in_the_spec() -> None:
    """Issue 26: a spec cannot render what Airflow's cluster policy refuses (the platform's taints)."""
    problems = problems_of(
        "package: acme\n"
        f"image: {IMAGE}\n"
        "jobs:\n"
        "  - name: one\n"
        "    tolerations:\n"
        "      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}\n"
        "      - {operator: Exists}\n"
        "      - {key: dedicated, operator: Equal, value: etl, effect: NoSchedule}\n"
    )
    assert problems == [
        "jobs.yaml:6: jobs[0].tolerations[0]: a toleration of the platform's taint "
        "'node-role.kubernetes.io/control-plane' lets job pods onto control-plane and system nodes "
        "(the cluster policy refuses it)",
        "jobs.yaml:7: jobs[0].tolerations[1]: a toleration of every taint (operator Exists without a key) lets job "
        "pods onto any node (the cluster policy refuses it)",
    ]
