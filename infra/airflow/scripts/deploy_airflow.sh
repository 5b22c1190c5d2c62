#!/usr/bin/env bash
# Install, upgrade and inspect Airflow (official Helm chart) with the DAG sync agent.
# The agent's ConfigMaps are part of the Helm release (chart value extraConfigMaps, from
# k8s/envs/ENV/dag-sync-values.yaml and, for its trust file, k8s/envs/ENV/dag-sync-trust-values.yaml
# written by `manage.sh ENV trust`); the pods that read them carry the sha256 of each file as the pod
# annotations checksum/airflow-dag-sync and checksum/airflow-dag-sync-trust, so a changed ConfigMap
# rolls them on `upgrade`. With k8s/envs/ENV/dag-processor-shards/ (python -m devstack.dag_processor_shards),
# the release's dag-processor parses shard 0's packages, and each further shard K is the same chart and
# values rendered as the release <release>-dpK (its dag-processor Deployment and airflow.cfg ConfigMap,
# with the release's service account, statsd and Secrets), applied after the release.
set -euo pipefail

CHART_REPO_NAME=apache-airflow
CHART_REPO_URL=https://airflow.apache.org
CHART_VERSION="${CHART_VERSION:-1.18.0}"

usage() {
    cat <<USAGE
Usage: deploy_airflow.sh [options] COMMAND [ARGS...]

Commands:
  install            namespaces, etl-jobs RBAC and package service accounts, then helm upgrade --install
                     (and the environment's further dag-processor shards, if it has them)
  upgrade            etl-jobs RBAC and package service accounts, then helm upgrade of the existing
                     release (values and agent ConfigMap changes; pods reading a changed ConfigMap roll),
                     then the dag-processor shards (a shard no longer listed is deleted)
  status             helm status and the release's pods
  logs [COMPONENT] [CONTAINER]
                     recent logs; COMPONENT: scheduler (default), dag-processor, triggerer,
                     api-server; CONTAINER: dag-sync (default), dag-sync-init, or the component's
                     own container name

Options:
  --env ENV            environment (default: dev):
                       k8s/envs/ENV/{values.yaml,dag-sync-values.yaml,dag-sync-trust-values.yaml}
  --release NAME       Helm release (default: airflow)
  --namespace NS       namespace of Airflow (default: airflow)
  --chart-version V    chart version (default: \$CHART_VERSION or $CHART_VERSION)
  --timeout DURATION   helm --timeout (default: 15m)
  --values FILE        another values file, layered after k8s/envs/ENV/values.yaml (repeatable), e.g.
                       k8s/kubernetes-executor-values.yaml
  --dry-run            print the commands instead of running them (no helm or kubectl needed)
  -h, --help           this help

Before Helm runs, install and upgrade check the Secrets only you can create (docs/airflow/DEPLOYMENT.md,
Prerequisites): airflow-metadata-db (key connection) in the release's namespace, and the image pull
Secret \$PULL_SECRET in it and in etl-jobs; and they create, once, the keys every Airflow pod must agree
on (airflow-fernet-key, airflow-jwt-key, airflow-api-key: 32 random bytes each, never changed after).

Exit codes: 0 success, 1 a prerequisite is missing (a Secret above), 2 usage error, 3 helm, kubectl
or sha256sum missing, other: helm's or kubectl's.
Environment: HELM (default: helm), KUBECTL (default: kubectl), KUBECONFIG as usual; PULL_SECRET
(default: registry-pull; empty when every private image is in ECR, which EKS nodes pull by role).
USAGE
}

die() { echo "deploy_airflow.sh: $*" >&2; exit 2; }

env_name=dev
release=airflow
namespace=airflow
timeout=15m
dry_run=false
positional=()
extra_values=()
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --dry-run) dry_run=true ;;
        --env|--release|--namespace|--chart-version|--timeout|--values)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --env) env_name=$2 ;;
                --release) release=$2 ;;
                --namespace) namespace=$2 ;;
                --chart-version) CHART_VERSION=$2 ;;
                --timeout) timeout=$2 ;;
                --values) extra_values+=("$2") ;;
            esac
            shift ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) positional+=("$1") ;;
    esac
    shift
done
((${#positional[@]} >= 1)) || { usage >&2; exit 2; }
command=${positional[0]}

[[ $env_name =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die "invalid environment name: $env_name"
[[ $release =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "invalid release name: $release"
[[ $namespace =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "invalid namespace: $namespace"
[[ $CHART_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "invalid chart version: $CHART_VERSION"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_dir=$(cd "$script_dir/../k8s" && pwd)
env_dir="$k8s_dir/envs/$env_name"
base_values="$k8s_dir/airflow-values.yaml"
env_values="$env_dir/values.yaml"
agent_values="$env_dir/dag-sync-values.yaml"
trust_values="$env_dir/dag-sync-trust-values.yaml"
shards_dir="$env_dir/dag-processor-shards"
shard_label=airflow-dag-processor-shard
package_objects="$k8s_dir/etl-jobs-packages.yaml"
network_policies="$k8s_dir/network-policies.yaml"
# The pods that mount the agent's ConfigMap (envFrom): Airflow components with the agent's init
# container or sidecar, and KubernetesExecutor worker pods.
checksum_components=(scheduler dagProcessor triggerer workers)
checksum_annotation=checksum/airflow-dag-sync
trust_checksum_annotation=checksum/airflow-dag-sync-trust
# Secrets only you can create: NAMESPACE/NAME|what it is (DEPLOYMENT.md, Prerequisites).
pull_secret=${PULL_SECRET-registry-pull}
required_secrets=("$namespace/airflow-metadata-db|the metadata database URI, key connection")
if [[ -n $pull_secret ]]; then
    required_secrets+=("$namespace/$pull_secret|docker-registry credentials of the agent image's registry"
                       "etl-jobs/$pull_secret|docker-registry credentials of the packages' job images")
fi
# Secrets the script creates once with a random key (NAME:KEY), named in airflow-values.yaml.
generated_secrets=(airflow-fernet-key:fernet-key airflow-jwt-key:jwt-secret airflow-api-key:api-secret-key)
helm_bin=${HELM:-helm}
kubectl_bin=${KUBECTL:-kubectl}

run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    $dry_run || "$@"
}

need() {
    $dry_run && return 0
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "deploy_airflow.sh: $tool not found" >&2; exit 3; }
    done
}

need_env_files() {
    [[ -d $env_dir ]] || die "unknown environment $env_name: no $env_dir"
    local f
    for f in "$base_values" "$env_values" ${extra_values[@]+"${extra_values[@]}"} "$agent_values" "$trust_values" \
        "$package_objects"; do
        [[ -f $f ]] || die "missing $f"
    done
}

check_secrets() {
    local entry where what missing=()
    for entry in "${required_secrets[@]}"; do
        where=${entry%%|*} what=${entry#*|}
        printf '+ %q get secret %q --namespace %q\n' "$kubectl_bin" "${where#*/}" "${where%%/*}"
        $dry_run && continue
        "$kubectl_bin" get secret "${where#*/}" --namespace "${where%%/*}" >/dev/null 2>&1 \
            || missing+=("Secret ${where#*/} in namespace ${where%%/*} ($what)")
    done
    if ((${#missing[@]})); then
        printf 'deploy_airflow.sh: create first: %s\n' "${missing[@]}" >&2
        echo "deploy_airflow.sh: see docs/airflow/DEPLOYMENT.md, Prerequisites" >&2
        exit 1
    fi
}

random_key() {  # 32 random bytes, url-safe base64 (a valid Fernet key, and a good JWT or session secret)
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'
}

ensure_generated_secrets() {
    local entry name key
    for entry in "${generated_secrets[@]}"; do
        name=${entry%%:*} key=${entry#*:}
        printf '+ %q create secret generic %q --namespace %q --from-file=%q  # only if missing; never changed\n' \
            "$kubectl_bin" "$name" "$namespace" "$key=/dev/stdin"
        $dry_run && continue
        if "$kubectl_bin" get secret "$name" --namespace "$namespace" >/dev/null 2>&1; then
            echo "# Secret $name exists: kept"
        else
            random_key | "$kubectl_bin" create secret generic "$name" --namespace "$namespace" \
                --from-file="$key=/dev/stdin" >/dev/null
            echo "# Secret $name created (key $key)"
        fi
    done
}

sha256_of() {
    local sum
    if command -v sha256sum >/dev/null 2>&1; then
        sum=$(sha256sum "$1")
    elif command -v shasum >/dev/null 2>&1; then
        sum=$(shasum -a 256 "$1")
    else
        echo "deploy_airflow.sh: sha256sum (or shasum) not found" >&2
        exit 3
    fi
    printf '%s\n' "${sum%% *}"
}

layered=()
annotations=()
release_values() {
    local checksum trust_checksum component f
    checksum=$(sha256_of "$agent_values")
    trust_checksum=$(sha256_of "$trust_values")
    echo "# agent ConfigMap airflow-dag-sync: sha256 $checksum of ${agent_values#"$k8s_dir"/}" \
        "-> pod annotation $checksum_annotation on ${checksum_components[*]}"
    echo "# agent ConfigMap airflow-dag-sync-trust: sha256 $trust_checksum of ${trust_values#"$k8s_dir"/}" \
        "-> pod annotation $trust_checksum_annotation"
    for component in "${checksum_components[@]}"; do
        annotations+=(--set-string "$component.podAnnotations.$checksum_annotation=$checksum")
        annotations+=(--set-string "$component.podAnnotations.$trust_checksum_annotation=$trust_checksum")
    done
    for f in "$base_values" "$env_values" ${extra_values[@]+"${extra_values[@]}"} "$agent_values" "$trust_values"; do
        layered+=(-f "$f")
    done
}

helm_release() {
    local verb=("$@") main=()
    release_values
    [[ -f $shards_dir/shard-0.yaml ]] && main=(-f "$shards_dir/shard-0.yaml")
    run "$helm_bin" "${verb[@]}" "$release" "$CHART_REPO_NAME/airflow" --version "$CHART_VERSION" \
        --namespace "$namespace" "${layered[@]}" ${main[@]+"${main[@]}"} \
        "${annotations[@]}" --wait --timeout "$timeout"
}

# Each further shard: the release's dag-processor Deployment and its airflow.cfg ConfigMap, rendered
# from the same chart and values under the release name <release>-dpK, then applied; shards no longer
# listed are deleted (objects labelled $shard_label).
dag_processor_shards() {
    local f k name out keep=() tmp_dir
    if $dry_run; then tmp_dir=TMPDIR; else tmp_dir=$(mktemp -d); fi
    for f in "$shards_dir"/shard-*.yaml; do
        [[ -e $f ]] || continue
        k=${f##*/shard-}
        k=${k%.yaml}
        [[ $k =~ ^[0-9]+$ ]] || die "not a shard file: $f"
        ((k == 0)) && continue
        keep+=("$k")
        name="$release-dp$k"
        out="$tmp_dir/$name.yaml"
        printf '+'
        printf ' %q' "$helm_bin" template "$name" "$CHART_REPO_NAME/airflow" --version "$CHART_VERSION" \
            --namespace "$namespace" "${layered[@]}" -f "$f" "${annotations[@]}" \
            --set dagProcessor.serviceAccount.create=false --set-string "config.metrics.statsd_host=$release-statsd" \
            --set-string "labels.$shard_label=$k" \
            --show-only templates/dag-processor/dag-processor-deployment.yaml \
            --show-only templates/configmaps/configmap.yaml
        printf ' > %q\n' "$out"
        $dry_run || "$helm_bin" template "$name" "$CHART_REPO_NAME/airflow" --version "$CHART_VERSION" \
            --namespace "$namespace" "${layered[@]}" -f "$f" "${annotations[@]}" \
            --set dagProcessor.serviceAccount.create=false --set-string "config.metrics.statsd_host=$release-statsd" \
            --set-string "labels.$shard_label=$k" \
            --show-only templates/dag-processor/dag-processor-deployment.yaml \
            --show-only templates/configmaps/configmap.yaml > "$out"
        run "$kubectl_bin" apply --namespace "$namespace" -f "$out"
    done
    run "$kubectl_bin" delete deployment,configmap --namespace "$namespace" --ignore-not-found \
        -l "$shard_label,$shard_label notin ($(IFS=,; echo "${keep[*]:-0}"))"
    $dry_run || rm -rf "$tmp_dir"
}

case "$command" in
    install)
        ((${#positional[@]} == 1)) || die "install takes no arguments"
        need_env_files
        need "$helm_bin" "$kubectl_bin"
        run "$kubectl_bin" apply -f "$k8s_dir/namespaces.yaml"
        check_secrets
        ensure_generated_secrets
        run "$kubectl_bin" apply -f "$k8s_dir/etl-jobs-rbac.yaml"
        run "$kubectl_bin" apply -f "$package_objects"
        run "$kubectl_bin" apply -f "$network_policies"
        run "$helm_bin" repo add "$CHART_REPO_NAME" "$CHART_REPO_URL" --force-update
        run "$helm_bin" repo update "$CHART_REPO_NAME"
        helm_release upgrade --install
        dag_processor_shards
        ;;
    upgrade)
        ((${#positional[@]} == 1)) || die "upgrade takes no arguments"
        need_env_files
        need "$helm_bin" "$kubectl_bin"
        check_secrets
        ensure_generated_secrets
        run "$kubectl_bin" apply -f "$k8s_dir/etl-jobs-rbac.yaml"
        run "$kubectl_bin" apply -f "$package_objects"
        run "$kubectl_bin" apply -f "$network_policies"
        run "$helm_bin" repo update "$CHART_REPO_NAME"
        helm_release upgrade
        dag_processor_shards
        ;;
    status)
        ((${#positional[@]} == 1)) || die "status takes no arguments"
        need "$helm_bin" "$kubectl_bin"
        run "$helm_bin" status "$release" --namespace "$namespace"
        run "$kubectl_bin" get pods --namespace "$namespace" -l "release=$release" -o wide
        ;;
    logs)
        ((${#positional[@]} <= 3)) || die "logs takes at most COMPONENT and CONTAINER"
        component=${positional[1]:-scheduler}
        container=${positional[2]:-dag-sync}
        case "$component" in
            scheduler|dag-processor|triggerer|api-server) ;;
            *) die "unknown component: $component (scheduler, dag-processor, triggerer, api-server)" ;;
        esac
        [[ $container =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "invalid container name: $container"
        need "$kubectl_bin"
        run "$kubectl_bin" logs --namespace "$namespace" -l "release=$release,component=$component" \
            -c "$container" --tail=200 --prefix --max-log-requests=10
        ;;
    *)
        die "unknown command: $command (see --help)"
        ;;
esac
