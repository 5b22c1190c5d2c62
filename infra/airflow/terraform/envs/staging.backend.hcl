# State of environment "staging" (terraform init -backend-config=envs/staging.backend.hcl).
bucket       = "acme-terraform-state"
key          = "airflow-dag-publisher/staging/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
