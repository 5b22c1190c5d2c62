output "environment" {
  description = "The environment this state manages."
  value       = var.environment
}

output "bucket_name" {
  description = "DAG bucket: DAG_BUCKET for the publisher, DAGSYNC_BUCKET for the sync agent."
  value       = aws_s3_bucket.dags.id
}

output "bucket_arn" {
  description = "ARN of the DAG bucket."
  value       = aws_s3_bucket.dags.arn
}

output "region" {
  description = "Region of the bucket (AWS_REGION for the publisher and the agent)."
  value       = var.region
}

output "encryption" {
  description = "Default encryption of the bucket."
  value       = var.encryption
}

output "kms_key_arn" {
  description = "ARN of the bucket's KMS key (null with SSE-S3)."
  value       = local.use_kms ? aws_kms_key.dags[0].arn : null
}

output "airflow_role_arn" {
  description = "IRSA role for Airflow's service accounts: the eks.amazonaws.com/role-arn annotation in k8s/airflow-values.yaml."
  value       = aws_iam_role.airflow.arn
}

output "ci_policy_arns" {
  description = "package => ARN of its CI publish policy (attach to the identity its CI job uses)."
  value       = { for p, policy in aws_iam_policy.ci : p => policy.arn }
}

output "ci_kms_policy_arn" {
  description = "ARN of the KMS policy every CI publisher identity also needs (null with SSE-S3 or no packages)."
  value       = length(aws_iam_policy.ci_kms) > 0 ? aws_iam_policy.ci_kms[0].arn : null
}

output "signing_key_aliases" {
  description = "package => the KMS alias its CI signs releases with (DAG_SIGNING_KEY); the alias follows rotation."
  value       = { for p, alias in aws_kms_alias.signing : p => alias.name }
}

output "signing_public_keys" {
  description = "package => PEM public keys of every version of its signing key: what the agents trust."
  value       = local.signing_public_keys
}

output "ci_sign_policy_arns" {
  description = "package => ARN of its signing policy (kms:Sign and kms:GetPublicKey on its own keys): attach beside its CI publish policy."
  value       = { for p, policy in aws_iam_policy.ci_sign : p => policy.arn }
}

output "dag_sync_trust_values" {
  description = "Helm values of the agent's trust ConfigMap: `scripts/manage.sh ENV trust` writes them to k8s/envs/ENV/dag-sync-trust-values.yaml."
  value       = local.dag_sync_trust_values
}

output "ci_promote_policy_arns" {
  description = "package => ARN of its promote policy (read-only on the promote_from environment's prefix of the package); attached with its publish policy to the roles of ci_role_names."
  value       = { for p, policy in aws_iam_policy.ci_promote : p => policy.arn }
}
