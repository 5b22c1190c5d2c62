# Environment "staging". Replace the example account, cluster and bucket names with yours.
environment = "staging"
region      = "eu-west-1"
bucket_name = "acme-airflow-dags-staging"

oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
oidc_provider_url = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

# `promote --from-env dev`: this environment's package CI may copy releases of dev (read-only on
# dev's bucket, each package its own prefix). kms_key_arn: the dev state's kms_key_arn output.
promote_from = {
  environment = "dev"
  bucket_name = "acme-airflow-dags-dev"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/EXAMPLE-dev-dags-key"
}
