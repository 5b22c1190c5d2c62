variable "environment" {
  description = "Environment name; the bucket prefix <environment>/ and the journal prefix _journal/<environment>/ belong to it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment))
    error_message = "environment must match ^[a-z][a-z0-9-]{0,31}$ (for example dev, staging, prod)."
  }
}

variable "require_signatures" {
  description = "Whether this environment's agents apply only signed releases (DAGSYNC_REQUIRE_SIGNATURES in the trust ConfigMap that `scripts/manage.sh ENV trust` writes) and its publishers refuse to commit unsigned ones (<environment>/_environment.json)."
  type        = bool
  default     = true
}

variable "region" {
  description = "AWS region of the bucket, the KMS key and the IAM objects' provider."
  type        = string
}

variable "bucket_name" {
  description = "Name of the DAG bucket this environment creates."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 characters: lowercase letters, digits, dots, hyphens)."
  }
}

variable "ci_role_names" {
  description = "Optional: package => names of existing IAM roles (for example a CI runner role) to attach that package's CI policy to."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for p in keys(var.ci_role_names) : can(regex("^[a-z][a-z0-9_]{0,62}$", p))])
    error_message = "ci_role_names keys must be package names listed in infra/airflow/packages.yaml."
  }
}

variable "promote_from" {
  description = "Optional: the environment whose releases this environment's package CI may promote (`airflow-dag-publisher promote --from-env`): its name, its DAG bucket and, for SSE-KMS, its key ARN (its own state's kms_key_arn output). null: nothing may be promoted into this environment."
  type = object({
    environment = string
    bucket_name = string
    kms_key_arn = optional(string, "")
  })
  default = null

  validation {
    condition     = var.promote_from == null || can(regex("^[a-z][a-z0-9-]{0,31}$", var.promote_from.environment))
    error_message = "promote_from.environment must match ^[a-z][a-z0-9-]{0,31}$."
  }

  validation {
    condition     = var.promote_from == null || var.promote_from.environment != var.environment
    error_message = "promote_from.environment must be another environment than this one."
  }
}

variable "encryption" {
  description = "Default bucket encryption: \"SSE-KMS\" (a customer managed key this module creates, rotation on) or \"SSE-S3\"."
  type        = string
  default     = "SSE-KMS"

  validation {
    condition     = contains(["SSE-KMS", "SSE-S3"], var.encryption)
    error_message = "encryption must be \"SSE-KMS\" or \"SSE-S3\"."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled deletion of the KMS key takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Noncurrent object versions (release history, replaced DAG files) expire this many days after they became noncurrent..."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "noncurrent_versions_to_keep" {
  description = "...but the newest this-many noncurrent versions of every key are always kept (the rollback window)."
  type        = number
  default     = 20

  validation {
    condition     = var.noncurrent_versions_to_keep >= 1 && var.noncurrent_versions_to_keep <= 100
    error_message = "noncurrent_versions_to_keep must be between 1 and 100 (the S3 limit)."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Incomplete multipart uploads are aborted this many days after they started."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1
    error_message = "abort_incomplete_multipart_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Optional: an existing bucket that receives S3 server access logs of the DAG bucket (empty: no access logging)."
  type        = string
  default     = ""
}

variable "access_log_prefix" {
  description = "Key prefix of the access logs in access_log_bucket."
  type        = string
  default     = "s3-access/"
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds objects. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (IRSA), e.g. arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN."
  }
}

variable "oidc_provider_url" {
  description = "Issuer URL of the cluster's OIDC provider, with or without https:// (e.g. oidc.eks.eu-west-1.amazonaws.com/id/ABC)."
  type        = string

  validation {
    condition     = length(trimprefix(var.oidc_provider_url, "https://")) > 0
    error_message = "oidc_provider_url must not be empty."
  }
}

variable "airflow_namespace" {
  description = "Kubernetes namespace Airflow runs in."
  type        = string
  default     = "airflow"
}

variable "airflow_service_accounts" {
  description = "Service accounts (in airflow_namespace) allowed to assume the Airflow read role: every component that runs the sync agent."
  type        = list(string)
  default     = ["airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker"]

  validation {
    condition     = length(var.airflow_service_accounts) > 0
    error_message = "airflow_service_accounts must name at least one service account."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "signing_key_versions" {
  description = "Optional: package => versions of its release signing key that exist (default [1]). The alias points at the highest; every version is trusted. Rotation: add the next version, publish, then remove the old one."
  type        = map(list(number))
  default     = {}

  validation {
    condition     = alltrue([for versions in values(var.signing_key_versions) : length(versions) > 0 && alltrue([for v in versions : v >= 1 && floor(v) == v])])
    error_message = "signing_key_versions: each package needs a non-empty list of whole version numbers >= 1."
  }
}
