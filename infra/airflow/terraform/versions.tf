terraform {
  required_version = ">= 1.10.0, < 2.0.0" # 1.10: S3 backend use_lockfile

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
  }

  # Partial configuration: scripts/manage.sh passes envs/<env>.backend.hcl at `terraform init`,
  # so each environment keeps its own state.
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "app.kubernetes.io/part-of" = "airflow-dag-publisher"
      "environment"               = var.environment
    })
  }
}
