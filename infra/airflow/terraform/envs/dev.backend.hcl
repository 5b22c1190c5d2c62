# State of environment "dev" (terraform init -backend-config=envs/dev.backend.hcl).
bucket       = "acme-terraform-state"
key          = "airflow-dag-publisher/dev/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
