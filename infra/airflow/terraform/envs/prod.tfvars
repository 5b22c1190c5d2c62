# Environment "prod". Replace the example account, cluster and bucket names with yours.
environment = "prod"
region      = "eu-west-1"
bucket_name = "acme-airflow-dags-prod"

oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
oidc_provider_url = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

# Production keeps a longer rollback window and ships access logs.
noncurrent_version_expiration_days = 180
noncurrent_versions_to_keep        = 50
access_log_bucket                  = "example-s3-access-logs"

# `promote --from-env staging`: this environment's package CI may copy releases of staging (read-only on
# staging's bucket, each package its own prefix). kms_key_arn: the staging state's kms_key_arn output.
promote_from = {
  environment = "staging"
  bucket_name = "acme-airflow-dags-staging"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/EXAMPLE-staging-dags-key"
}
