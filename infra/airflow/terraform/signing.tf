# Signed releases: one asymmetric KMS key per package (ECC_NIST_P256, SIGN_VERIFY) behind an alias its
# CI signs with (DAG_SIGNING_KEY); each package's CI may kms:Sign and kms:GetPublicKey with its own
# keys only; Airflow's role gets no KMS access (the agents verify offline with the public keys, which
# reach them as the trust ConfigMap: `scripts/manage.sh ENV trust` writes output dag_sync_trust_values
# to k8s/envs/ENV/dag-sync-trust-values.yaml).
#
# Rotation (KMS does not rotate asymmetric keys): add the next version to var.signing_key_versions
# (both keys exist and both are trusted; the alias moves to the newest), apply, regenerate the trust
# ConfigMap and deploy, let the package publish once (the publisher signs unchanged content again
# when the current release is not signed by its key), then remove the old version and repeat.

locals {
  signing_key_versions = { for p in local.package_names : p => lookup(var.signing_key_versions, p, [1]) }
  signing_keys = merge([
    for p, versions in local.signing_key_versions : {
      for v in versions : "${p}/v${v}" => { package = p, version = v }
    }
  ]...)
  signing_current = { for p, versions in local.signing_key_versions : p => "${p}/v${max(versions...)}" }

  # package => the PEM public keys of every version of its key: the agent's trust file.
  signing_public_keys = {
    for p in local.package_names : p => [
      for k, v in local.signing_keys : data.aws_kms_public_key.signing[k].public_key_pem if v.package == p
    ]
  }
  trust_configmap = "airflow-dag-sync-trust"
  dag_sync_trust_values = join("", [
    "---\n",
    "# The agent's trust file (package -> PEM public keys of its release signing keys) as the ConfigMap\n",
    "# ${local.trust_configmap}, generated from Terraform's outputs by `scripts/manage.sh ${var.environment} trust`.\n",
    "# Do not edit: regenerate after every apply that adds or removes a signing key, then deploy.\n",
    yamlencode({
      extraConfigMaps = {
        (local.trust_configmap) = {
          labels = {
            "app.kubernetes.io/name"    = local.trust_configmap
            "app.kubernetes.io/part-of" = "airflow-dag-publisher"
            "environment"               = var.environment
          }
          # the agents read DAGSYNC_REQUIRE_SIGNATURES from here (envFrom), trust.yaml as a file
          data = yamlencode({
            "trust.yaml"               = yamlencode(local.signing_public_keys)
            DAGSYNC_REQUIRE_SIGNATURES = var.require_signatures ? "true" : "false"
          })
          # a release object, not a Helm hook (a hook is deleted and created again at every upgrade)
          useHelmHooks = false
        }
      }
    }),
  ])
}

resource "aws_kms_key" "signing" {
  for_each = local.signing_keys
  #checkov:skip=CKV_AWS_7: KMS cannot rotate asymmetric keys; rotation is a new key version (var.signing_key_versions) trusted beside the old one

  description              = "Signs DAG releases of package ${each.value.package} in ${var.environment} (key version ${each.value.version})"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = var.kms_deletion_window_days
  policy                   = local.kms_key_policy # only the package's CI policy (ci_sign below) uses the key

  lifecycle {
    precondition {
      condition     = alltrue([for p in keys(var.signing_key_versions) : contains(local.package_names, p)])
      error_message = "signing_key_versions: every key must be a package of infra/airflow/packages.yaml."
    }
  }
}

resource "aws_kms_alias" "signing" {
  for_each = local.signing_current

  name          = "alias/${local.name_prefix}-sign-${each.key}"
  target_key_id = aws_kms_key.signing[each.value].key_id
}

data "aws_kms_public_key" "signing" {
  for_each = local.signing_keys

  key_id = aws_kms_key.signing[each.key].arn
}

resource "aws_iam_policy" "ci_sign" {
  for_each = local.packages

  name        = "${local.name_prefix}-ci-sign-${replace(each.key, "_", "-")}"
  description = "Sign DAG releases of package ${each.key} (${var.environment}) with its own KMS keys only"
  policy = templatefile("${path.module}/policies/ci_sign.json.tpl", {
    signing_key_arns = jsonencode([for k, v in local.signing_keys : aws_kms_key.signing[k].arn if v.package == each.key])
  })
}

resource "aws_iam_role_policy_attachment" "ci_sign" {
  for_each = local.ci_attachments

  role       = each.value.role
  policy_arn = aws_iam_policy.ci_sign[each.value.package].arn
}
