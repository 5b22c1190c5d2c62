# The README's two commands: `make demo` and `make test`. Each does all its own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
LOCK := requirements-dev.lock
LOCAL_PACKAGES := packages/orchestration packages/pipeline_processing packages/reporting_seeder
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install system-tools test lint typecheck demo screenshot bench soak lock clean k8s-packages agent-lock cluster-policy bundles dag-processor-shards

help:
	@echo "make demo    local S3 + sync agent + Airflow 3 with both example packages published"
	@echo "make test    the whole suite (installs everything it needs first)"
	@echo "make install the .venv from $(LOCK); make lint, make typecheck, make bench, make soak"
	@echo "make cluster-policy  regenerate the Helm values' airflowLocalSettings (after editing packages.yaml)"
	@echo "make bundles         regenerate each environment's DAG bundle list (after editing packages.yaml)"
	@echo "make dag-processor-shards  regenerate the shards of environments with several dag-processors (idem)"

# Bytecode is compiled at install, as pip compiles it in the agent image: where PYTHONDONTWRITEBYTECODE
# is set, every process (the agent, Airflow, the aws CLI) would otherwise compile all it imports at
# every start.
$(STAMP): $(LOCK) $(wildcard $(addsuffix /pyproject.toml,$(LOCAL_PACKAGES)))
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || { $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip >/dev/null; \
		$(PY) -m pip install -q "$$(grep '^uv==' $(LOCK))"; }
	$(UV) pip sync -q --compile-bytecode --python $(PY) $(LOCK)
	$(UV) pip install -q --python $(PY) --no-deps $(addprefix -e ,$(wildcard $(LOCAL_PACKAGES)))
	@$(PY) -m compileall -q -j 0 $(addsuffix /src,$(wildcard $(LOCAL_PACKAGES))) >/dev/null
	@touch $@

install: $(STAMP) ## idempotent: does nothing when the lock and package metadata did not change

system-tools: ## Debian and npm tools the tests use (shellcheck, rsync, chromium, gitlab-ci-local)
	@bash devstack/install-system-tools.sh

lock: ## re-resolve the lock file from requirements-dev.in
	$(UV) pip compile -q --python-version 3.11 requirements-dev.in -o $(LOCK)

# infra/airflow/k8s/etl-jobs-packages.yaml from the one list of packages, infra/airflow/packages.yaml
# (tests/infra/test_packages.py fails while the committed file is stale).
k8s-packages: install
	$(PY) -m devstack.platform_packages

# packages/orchestration/requirements-agent*.lock (the agent image's dependencies) from $(LOCK), offline
# (packages/orchestration/tests/sync/test_dockerfile.py fails while they are stale). Run after `make lock`.
agent-lock: install
	$(PY) -m devstack.agent_lock

# Airflow's cluster policies in the Helm values (airflowLocalSettings), generated from the policy module and
# infra/airflow/packages.yaml; a test fails while the committed copy is stale.
cluster-policy: install
	$(PY) -m airflow_dag_publisher.policy.local_settings

# Airflow's [dag_processor] dag_bundle_config_list in each environment's Helm values (one versioned bundle per
# package), generated from infra/airflow/packages.yaml and the environment's agent settings; a test fails while a
# committed copy is stale.
bundles: install
	$(PY) -m airflow_dag_publisher.bundle helm-values

# The Helm values of each dag-processor shard of the environments that have several
# (infra/airflow/k8s/envs/<env>/dag-processor-shards/), regenerated from infra/airflow/packages.yaml;
# `python -m devstack.dag_processor_shards --env ENV --shards N` gives an environment N of them.
dag-processor-shards: install
	$(PY) -m devstack.dag_processor_shards --refresh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check packages/*/airflow_dags

typecheck: install
	$(VENV)/bin/mypy

# Lint, types and the suite all run; the target fails if any failed. pytest's exit 5 (no tests
# collected, e.g. a PYTEST_ARGS selection that matches nothing) is not a failure.
test: install system-tools
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check packages/*/airflow_dags || status=1; \
	$(VENV)/bin/mypy || status=1; \
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then status=$$rc; fi; \
	exit $$status

demo: install ## DEMO_CHECK=1: verify, print the DAGs and the latency, stop (DEMO_CHECK=0 or empty: serve until Ctrl-C)
	$(PY) -m devstack.demo $(if $(filter-out 0 false no,$(DEMO_CHECK)),--check,)

# docs/images/airflow-dags.png and airflow-dag-versions.png, the README's pictures of the Airflow UI (the DAG
# list; a DAG's versions named by release id): the demo's browser test (a whole `make demo` run, headless
# Chromium logging in) takes them and copies them there. Commit the result.
screenshot: install system-tools
	DEMO_SCREENSHOT_TO=docs/images/airflow-dags.png DEMO_VERSIONS_SCREENSHOT_TO=docs/images/airflow-dag-versions.png \
		$(VENV)/bin/pytest -n 0 -p no:randomly \
		"tests/demo/test_demo.py::test_demo_runs_until_ctrl_c_with_ui_login_and_live_publish"

# The scripts' JSON is kept in .local/bench: `python -m bench.run --from-json .local/bench` renders
# the document again without measuring.
bench: install system-tools
	$(PY) -m bench.run --out-dir .local/bench

# The reliability suite at 10x its `make test` counts (RELIABILITY_SCALE=N to choose), with 1,500
# hypothesis examples per property; prints the figures at the end.
soak: install
	RELIABILITY_SOAK=1 $(VENV)/bin/pytest -n 0 --timeout 3600 tests/reliability \
		packages/orchestration/tests/test_fuzz_names.py packages/orchestration/tests/test_fuzz_manifest.py \
		packages/orchestration/tests/test_fuzz_sync_planner.py

clean:
	rm -rf .local $(VENV)
