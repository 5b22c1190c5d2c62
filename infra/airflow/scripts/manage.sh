#!/usr/bin/env bash
# Terraform lifecycle of one environment of the DAG bucket and its IAM (infra/airflow/terraform).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: manage.sh [--dry-run] [--yes] ENV COMMAND [-- TERRAFORM_ARGS...]

Runs Terraform for environment ENV with envs/ENV.backend.hcl (state) and envs/ENV.tfvars.

Commands:
  init      terraform init with the environment's backend (run first, and after switching ENV)
  plan      terraform plan, saved to ENV.tfplan
  apply     apply ENV.tfplan when present, else plan and apply; prod asks for confirmation
  destroy   destroy everything of ENV; always asks for confirmation
  outputs   terraform output -json (bucket, role and policy ARNs, signing key aliases and public keys)
  trust     write the agent's trust ConfigMap (Terraform output dag_sync_trust_values: every
            package's signing public keys) to k8s/envs/ENV/dag-sync-trust-values.yaml; deploy after

Options:
  --dry-run   print the commands instead of running them (no terraform needed)
  --yes       do not ask for confirmation (CI); prod apply and destroy still need it explicitly
  -h, --help  this help

Exit codes: 0 success, 1 refused (confirmation declined), 2 usage error, other: terraform's.
Environment: TERRAFORM (default: terraform), TF_DIR (default: the module beside this script),
K8S_DIR (default: the k8s folder beside it).
USAGE
}

die() { echo "manage.sh: $*" >&2; exit 2; }

dry_run=false
assume_yes=false
positional=()
extra=()
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --dry-run) dry_run=true ;;
        --yes) assume_yes=true ;;
        --) shift; extra=("$@"); break ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) positional+=("$1") ;;
    esac
    shift
done
((${#positional[@]} == 2)) || { usage >&2; exit 2; }
env_name=${positional[0]}
command=${positional[1]}

[[ $env_name =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die "invalid environment name: $env_name"
case "$command" in init|plan|apply|destroy|outputs|trust) ;; *) die "unknown command: $command (see --help)" ;; esac

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tf_dir=${TF_DIR:-$script_dir/../terraform}
k8s_dir=${K8S_DIR:-$script_dir/../k8s}
terraform_bin=${TERRAFORM:-terraform}
var_file="envs/$env_name.tfvars"
backend_file="envs/$env_name.backend.hcl"
plan_file="$env_name.tfplan"

[[ -f $tf_dir/$var_file ]] || die "no variables for environment $env_name: $tf_dir/$var_file"
[[ -f $tf_dir/$backend_file ]] || die "no backend configuration for environment $env_name: $tf_dir/$backend_file"
if ! $dry_run && ! command -v "$terraform_bin" >/dev/null 2>&1; then
    echo "manage.sh: terraform not found (set TERRAFORM or install it)" >&2
    exit 3
fi

run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    $dry_run || "$@"
}

confirm() {
    local prompt=$1 expected=$2 answer
    if $dry_run; then
        echo "(dry run: would ask \"$prompt\" and require \"$expected\")"
        return 0
    fi
    if [[ ! -t 0 ]]; then
        echo "manage.sh: $prompt: refusing without a terminal to confirm on" >&2
        exit 1
    fi
    read -r -p "$prompt Type '$expected' to continue: " answer
    [[ $answer == "$expected" ]] || { echo "manage.sh: not confirmed; nothing changed" >&2; exit 1; }
}

tf=("$terraform_bin" "-chdir=$tf_dir")
case "$command" in
    init)
        run "${tf[@]}" init -input=false -reconfigure "-backend-config=$backend_file" "${extra[@]}"
        ;;
    plan)
        run "${tf[@]}" plan -input=false "-var-file=$var_file" "-out=$plan_file" "${extra[@]}"
        ;;
    apply)
        if [[ $env_name == prod ]] || ! $assume_yes; then
            confirm "Apply Terraform changes to environment '$env_name'?" "$env_name"
        fi
        if [[ -f $tf_dir/$plan_file ]]; then
            run "${tf[@]}" apply -input=false "${extra[@]}" "$plan_file"
            $dry_run || rm -f "$tf_dir/$plan_file"
        else
            run "${tf[@]}" plan -input=false "-var-file=$var_file" "-out=$plan_file"
            run "${tf[@]}" apply -input=false "${extra[@]}" "$plan_file"
            $dry_run || rm -f "$tf_dir/$plan_file"
        fi
        ;;
    destroy)
        confirm "DESTROY the DAG bucket, KMS key and IAM of environment '$env_name'?" "destroy $env_name"
        run "${tf[@]}" destroy -input=false -auto-approve "-var-file=$var_file" "${extra[@]}"
        ;;
    outputs)
        run "${tf[@]}" output -json "${extra[@]}"
        ;;
    trust)
        trust_file="$k8s_dir/envs/$env_name/dag-sync-trust-values.yaml"
        [[ -d $k8s_dir/envs/$env_name ]] || die "no Kubernetes values for environment $env_name: $k8s_dir/envs/$env_name"
        printf '+'
        printf ' %q' "${tf[@]}" output -raw dag_sync_trust_values
        printf ' > %q\n' "$trust_file"
        if ! $dry_run; then
            tmp=$(mktemp "$trust_file.XXXXXX")
            trap 'rm -f "$tmp"' EXIT
            "${tf[@]}" output -raw dag_sync_trust_values > "$tmp"
            [[ -s $tmp ]] || { echo "manage.sh: terraform output dag_sync_trust_values is empty" >&2; exit 1; }
            chmod 0644 "$tmp"
            mv "$tmp" "$trust_file"
            echo "wrote $trust_file: deploy it with scripts/deploy_airflow.sh --env $env_name upgrade"
        fi
        ;;
esac
