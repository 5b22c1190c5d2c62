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

output "ci_promote_policy_arns" {
  description = "package => ARN of its promote policy (read-only on the promote_from environment's prefix of the package); attached with its publish policy to the roles of ci_role_names."
  value       = { for p, policy in aws_iam_policy.ci_promote : p => policy.arn }
}
