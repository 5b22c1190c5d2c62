#!/usr/bin/env bash
# A local S3 for development: starts SeaweedFS (the `weed` binary from the repository's .venv or
# PATH) on loopback, or uses an S3 endpoint you already run (LocalStack, MinIO, ...), and creates
# the DAG bucket with versioning enabled. The SeaweedFS it starts authenticates every request, as AWS
# does (SigV4, one identity: AWS_ACCESS_KEY_ID=devstack, AWS_SECRET_ACCESS_KEY=devstack-secret, never
# the caller's own AWS credentials): a wrong secret is refused.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: setup_localstack.sh [options]        start SeaweedFS (unless --endpoint) and create the bucket
       setup_localstack.sh --stop [options] stop the SeaweedFS this script started

Options:
  --endpoint URL     use this existing S3 endpoint (e.g. LocalStack http://localhost:4566);
                     nothing is started
  --bucket NAME      bucket to create, versioning enabled (default: airflow-dags)
  --env ENV          environment whose settings file ENV/_environment.json the bucket gets (default: dev)
  --require-signatures
                     declare that ENV's agents require signed releases (publishers then refuse
                     to commit unsigned ones); default: not required
  --port PORT        SeaweedFS S3 port (default: 8333); master, volume and filer use PORT+1..+3
                     and their gRPC ports +10000
  --data-dir DIR     SeaweedFS data, log and pid file (default: .local/seaweedfs in the repository)
  --region REGION    region for the bucket (default: us-east-1)
  --timeout SECONDS  how long to wait for the endpoint (default: 60)
  --stop             stop the SeaweedFS started with the same --data-dir
  --dry-run          print the commands instead of running them
  -h, --help         this help

The SeaweedFS started here verifies each request's signature against one identity, the devstack
credentials (access key devstack, secret devstack-secret); a wrong secret is refused, as on AWS.
With --endpoint, the caller's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are used (default: devstack).

Prints the environment to use it, e.g.
  export AWS_ENDPOINT_URL=http://127.0.0.1:8333 DAG_BUCKET=airflow-dags ...
Exit codes: 0 success, 2 usage error, 3 the endpoint did not come up or a tool is missing.
USAGE
}

die() { echo "setup_localstack.sh: $*" >&2; exit 2; }
fail() { echo "setup_localstack.sh: $*" >&2; exit 3; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/../../.." && pwd)
endpoint=""
bucket=airflow-dags
env_name=dev
require_signatures=false
port=8333
data_dir="$repo_dir/.local/seaweedfs"
region=us-east-1
timeout=60
stop=false
dry_run=false
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --dry-run) dry_run=true ;;
        --stop) stop=true ;;
        --require-signatures) require_signatures=true ;;
        --endpoint|--bucket|--env|--port|--data-dir|--region|--timeout)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --endpoint) endpoint=$2 ;;
                --bucket) bucket=$2 ;;
                --env) env_name=$2 ;;
                --port) port=$2 ;;
                --data-dir) data_dir=$2 ;;
                --region) region=$2 ;;
                --timeout) timeout=$2 ;;
            esac
            shift ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[[ $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "invalid bucket name: $bucket"
[[ $env_name =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die "invalid environment name: $env_name"
if [[ ! $port =~ ^[0-9]+$ ]] || ((port < 1024 || port + 10003 > 65535)); then
    die "invalid --port: $port (1024..55532)"
fi
if [[ ! $timeout =~ ^[0-9]+$ ]] || ((timeout < 1)); then
    die "invalid --timeout: $timeout"
fi
[[ -z $endpoint || $endpoint =~ ^https?://[^[:space:]]+$ ]] || die "invalid --endpoint: $endpoint"
[[ $region =~ ^[a-z0-9-]+$ ]] || die "invalid --region: $region"

pid_file="$data_dir/weed.pid"
log_file="$data_dir/weed.log"

run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    $dry_run || "$@"
}

find_tool() {
    local name=$1
    if [[ -x $repo_dir/.venv/bin/$name ]]; then
        echo "$repo_dir/.venv/bin/$name"
    elif command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
    elif $dry_run; then
        echo "$name"
    else
        fail "$name not found (run \`make install\` at the repository root, or put it on PATH)"
    fi
}

if $stop; then
    if [[ ! -f $pid_file ]]; then
        echo "setup_localstack.sh: no SeaweedFS started from $data_dir (no $pid_file)"
        exit 0
    fi
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || die "corrupt pid file: $pid_file"
    if $dry_run; then
        run kill -TERM -- "-$pid"
        exit 0
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
        fi
    fi
    rm -f "$pid_file"
    echo "stopped SeaweedFS (pid $pid)"
    exit 0
fi

aws_bin=$(find_tool aws)
if [[ -z $endpoint ]]; then
    # The SeaweedFS started here knows one identity: the devstack credentials, not the caller's.
    export AWS_ACCESS_KEY_ID=devstack AWS_SECRET_ACCESS_KEY=devstack-secret
else
    export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-devstack}
    export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-devstack-secret}
fi
export AWS_DEFAULT_REGION=$region AWS_REGION=$region AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=${AWS_CONFIG_FILE:-/dev/null} AWS_SHARED_CREDENTIALS_FILE=${AWS_SHARED_CREDENTIALS_FILE:-/dev/null}
unset AWS_PROFILE

if [[ -z $endpoint ]]; then
    endpoint="http://127.0.0.1:$port"
    weed_bin=$(find_tool weed)
    if [[ -f $pid_file ]] && kill -0 "$(<"$pid_file")" 2>/dev/null; then
        echo "SeaweedFS already running (pid $(<"$pid_file")), data in $data_dir"
    else
        run mkdir -p "$data_dir"
        identities="$data_dir/s3-identities.json"
        if ! $dry_run; then
            (umask 077 && printf '{"identities": [{"name": "devstack", "actions": ["Admin", "Read", "Write", "List", "Tagging"], "credentials": [{"accessKey": "%s", "secretKey": "%s"}]}]}\n' \
                "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$identities")
        fi
        weed_cmd=("$weed_bin" server "-dir=$data_dir" -ip=127.0.0.1 -ip.bind=127.0.0.1
            "-master.port=$((port + 1))" "-master.port.grpc=$((port + 10001))"
            "-volume.port=$((port + 2))" "-volume.port.grpc=$((port + 10002))"
            "-filer.port=$((port + 3))" "-filer.port.grpc=$((port + 10003))"
            -s3 "-s3.port=$port" "-s3.port.grpc=$((port + 10000))" -s3.port.iceberg=0 -s3.port.lance=0
            -master.volumeSizeLimitMB=64 -volume.max=100 "-s3.config=$identities")
        printf '+'
        printf ' %q' setsid "${weed_cmd[@]}"
        printf ' >%q 2>&1 &\n' "$log_file"
        if ! $dry_run; then
            setsid "${weed_cmd[@]}" >"$log_file" 2>&1 </dev/null &
            echo $! >"$pid_file"
        fi
    fi
fi

s3api=("$aws_bin" --endpoint-url "$endpoint" s3api)
if ! $dry_run; then
    deadline=$((SECONDS + timeout))
    until answer=$("${s3api[@]}" list-buckets 2>&1 >/dev/null); do
        if [[ $answer =~ (InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied) ]]; then
            fail "$endpoint refuses the credentials (${BASH_REMATCH[1]}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to its identity"
        fi
        if ((SECONDS >= deadline)); then
            fail "no S3 answer at $endpoint after ${timeout}s${weed_bin:+; see $log_file}"
        fi
        if [[ -n ${weed_bin:-} && -f $pid_file ]] && ! kill -0 "$(<"$pid_file")" 2>/dev/null; then
            fail "SeaweedFS exited; see $log_file"
        fi
        sleep 0.5
    done
fi

if $dry_run || ! "${s3api[@]}" head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    location=()
    [[ $region == us-east-1 ]] || location=(--create-bucket-configuration "LocationConstraint=$region")
    run "${s3api[@]}" create-bucket --bucket "$bucket" "${location[@]}" --query Location --output text
fi
run "${s3api[@]}" put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
if ! $dry_run; then
    status=$("${s3api[@]}" get-bucket-versioning --bucket "$bucket" --query Status --output text)
    [[ $status == Enabled ]] || fail "versioning of $bucket is '$status', not Enabled"
fi

# The environment's declared settings, as Terraform writes them (aws_s3_object.environment).
settings=$(mktemp)
trap 'rm -f "$settings"' EXIT
printf '{"schema_version": 1, "env": "%s", "require_signatures": %s}\n' "$env_name" "$require_signatures" > "$settings"
run "${s3api[@]}" put-object --bucket "$bucket" --key "$env_name/_environment.json" --body "$settings" \
    --content-type application/json --query VersionId --output text

cat <<ENV
# Local S3 ready: bucket $bucket (versioning Enabled) at $endpoint, environment $env_name declared
export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=$region AWS_REGION=$region DAG_BUCKET=$bucket DAGSYNC_BUCKET=$bucket
ENV
