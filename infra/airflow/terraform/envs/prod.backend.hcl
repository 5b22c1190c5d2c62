# State of environment "prod" (terraform init -backend-config=envs/prod.backend.hcl).
bucket       = "acme-terraform-state"
key          = "airflow-dag-publisher/prod/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
