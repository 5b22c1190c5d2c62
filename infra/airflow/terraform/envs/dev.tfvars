# Environment "dev". Replace the example account, cluster and bucket names with yours.
environment = "dev"
region      = "eu-west-1"
bucket_name = "acme-airflow-dags-dev"

oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
oidc_provider_url = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
