# The DAG bucket of one environment, its KMS key, and the IAM that lets Airflow read its
# environment and each package's CI publish only its own prefix. The IAM documents are the JSON
# templates in policies/, rendered here with templatefile() (tests/infra renders the same files).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # The one list of packages (infra/airflow/packages.yaml): each gets its CI publish policy below.
  # The same file gives each package's ServiceAccount in etl-jobs (k8s/etl-jobs-packages.yaml).
  package_list  = yamldecode(file("${path.module}/../packages.yaml"))
  package_names = [for p in local.package_list.packages : p.name]
  packages      = toset(local.package_names)

  use_kms       = var.encryption == "SSE-KMS"
  oidc_provider = trimprefix(var.oidc_provider_url, "https://")
  bucket_arn    = aws_s3_bucket.dags.arn
  name_prefix   = "airflow-dags-${var.environment}"
  kms_key_arn   = local.use_kms ? aws_kms_key.dags[0].arn : ""

  # The key policy of every KMS key here (the bucket's and the signing keys): the account administers
  # the key; principals get use of it only through IAM policies (kms_use, ci_sign), never through it.
  kms_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

# --- KMS ------------------------------------------------------------------------------------

resource "aws_kms_key" "dags" {
  count = local.use_kms ? 1 : 0

  description             = "Default encryption of the Airflow DAG bucket ${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = local.kms_key_policy
}

resource "aws_kms_alias" "dags" {
  count = local.use_kms ? 1 : 0

  name          = "alias/${local.name_prefix}"
  target_key_id = aws_kms_key.dags[0].key_id
}

# --- Bucket -----------------------------------------------------------------------------------

resource "aws_s3_bucket" "dags" {
  #checkov:skip=CKV_AWS_144: cross-region replication is not needed: DAG sources live in git and every package can republish; versioning covers accidental change
  #checkov:skip=CKV2_AWS_62: event notifications are not used: the _journal/ prefix is the change feed the sync agents read
  #checkov:skip=CKV_AWS_18: access logging is optional (var.access_log_bucket, aws_s3_bucket_logging.dags) because the log bucket belongs to the account's logging setup
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

# The environment's declared settings (<environment>/_environment.json), read by every publisher before
# it commits: with require_signatures, an unsigned publish, rollback, retire or promote fails at once
# and names DAG_SIGNING_KEY, rather than being committed and then refused by every agent. The same
# variable sets the agents' DAGSYNC_REQUIRE_SIGNATURES (signing.tf, the trust ConfigMap).
resource "aws_s3_object" "environment" {
  bucket       = aws_s3_bucket.dags.id
  key          = "${var.environment}/_environment.json"
  content      = jsonencode({ schema_version = 1, env = var.environment, require_signatures = var.require_signatures })
  content_type = "application/json"
  kms_key_id   = local.use_kms ? aws_kms_key.dags[0].arn : null

  depends_on = [aws_s3_bucket_versioning.dags, aws_s3_bucket_server_side_encryption_configuration.dags]
}

resource "aws_s3_bucket_versioning" "dags" {
  bucket = aws_s3_bucket.dags.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dags" {
  bucket = aws_s3_bucket.dags.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.encryption == "SSE-KMS" ? "aws:kms" : "AES256"
      kms_master_key_id = var.encryption == "SSE-KMS" ? aws_kms_key.dags[0].arn : null
    }
    bucket_key_enabled = var.encryption == "SSE-KMS"
  }
}

resource "aws_s3_bucket_public_access_block" "dags" {
  bucket = aws_s3_bucket.dags.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "dags" {
  bucket = aws_s3_bucket.dags.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_policy" "dags" {
  bucket = aws_s3_bucket.dags.id
  policy = templatefile("${path.module}/policies/bucket_policy.json.tpl", {
    bucket_arn = local.bucket_arn
  })

  # A bucket policy is rejected while the public access block is being created.
  depends_on = [aws_s3_bucket_public_access_block.dags]
}

resource "aws_s3_bucket_lifecycle_configuration" "dags" {
  bucket = aws_s3_bucket.dags.id

  # Release history (manifest.json versions) and replaced DAG files: bounded, newest kept. This is
  # the retention of a release (docs/airflow/README.md, "Versioned runs"): the objects a release pins
  # become noncurrent when a later release replaces them and live noncurrent_version_expiration_days
  # more, so a task of a run of that release can still fetch it that long after it stopped being
  # current. The copies of releases by id (_releases/<env>/<package>/<release_id>.json, written once,
  # one small manifest per release) never expire: no rule below expires current objects there.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days           = var.noncurrent_version_expiration_days
      newer_noncurrent_versions = var.noncurrent_versions_to_keep
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  # The change journal is a hint with a one-day life (reconciliation covers anything older).
  rule {
    id     = "expire-change-journal"
    status = "Enabled"

    filter {
      prefix = "_journal/"
    }

    expiration {
      days = 1
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  # Lifecycle rules on noncurrent versions need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.dags]
}

resource "aws_s3_bucket_logging" "dags" {
  count = var.access_log_bucket == "" ? 0 : 1

  bucket        = aws_s3_bucket.dags.id
  target_bucket = var.access_log_bucket
  target_prefix = "${var.access_log_prefix}${var.bucket_name}/"
}

# --- Airflow: IRSA role that reads its environment ---------------------------------------------

resource "aws_iam_role" "airflow" {
  name                 = "${local.name_prefix}-airflow-read"
  description          = "Airflow (${var.environment}) sync agents and bundles: read ${var.environment}/, _journal/${var.environment}/ and _releases/${var.environment}/ of ${var.bucket_name}"
  max_session_duration = 3600
  assume_role_policy = templatefile("${path.module}/policies/airflow_trust.json.tpl", {
    oidc_provider_arn        = var.oidc_provider_arn
    oidc_provider            = local.oidc_provider
    service_account_subjects = jsonencode([for sa in var.airflow_service_accounts : "system:serviceaccount:${var.airflow_namespace}:${sa}"])
  })
}

resource "aws_iam_policy" "airflow_read" {
  name        = "${local.name_prefix}-airflow-read"
  description = "Read-only: list and get ${var.environment}/* and _journal/${var.environment}/* in ${var.bucket_name}"
  policy = templatefile("${path.module}/policies/airflow_read.json.tpl", {
    bucket_arn  = local.bucket_arn
    environment = var.environment
  })
}

resource "aws_iam_role_policy_attachment" "airflow_read" {
  role       = aws_iam_role.airflow.name
  policy_arn = aws_iam_policy.airflow_read.arn
}

resource "aws_iam_policy" "airflow_kms" {
  count = local.use_kms ? 1 : 0

  name        = "${local.name_prefix}-airflow-kms"
  description = "Decrypt objects of ${var.bucket_name} through S3"
  policy = templatefile("${path.module}/policies/kms_use.json.tpl", {
    kms_actions = jsonencode(["kms:Decrypt"])
    kms_key_arn = local.kms_key_arn
    region      = var.region
    bucket_arn  = local.bucket_arn
  })
}

resource "aws_iam_role_policy_attachment" "airflow_kms" {
  count = local.use_kms ? 1 : 0

  role       = aws_iam_role.airflow.name
  policy_arn = aws_iam_policy.airflow_kms[0].arn
}

# --- CI: one publish policy per package --------------------------------------------------------

resource "aws_iam_policy" "ci" {
  for_each = local.packages

  name        = "${local.name_prefix}-ci-${replace(each.key, "_", "-")}"
  description = "Publish DAGs of package ${each.key} to ${var.environment}/${each.key}/ in ${var.bucket_name}"
  policy = templatefile("${path.module}/policies/ci_publish.json.tpl", {
    bucket_arn  = local.bucket_arn
    environment = var.environment
    package     = each.key
  })

  lifecycle {
    precondition {
      condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", each.key))
      error_message = "infra/airflow/packages.yaml: package name \"${each.key}\" must match ^[a-z][a-z0-9_]{0,62}$ (no hyphens: a journal key names exactly one package)."
    }
    precondition {
      condition     = length(local.package_names) == length(local.packages)
      error_message = "infra/airflow/packages.yaml: a package name is listed more than once."
    }
  }
}

resource "aws_iam_policy" "ci_kms" {
  count = local.use_kms && length(local.packages) > 0 ? 1 : 0

  name        = "${local.name_prefix}-ci-kms"
  description = "Encrypt and decrypt objects of ${var.bucket_name} through S3 (CI publishers)"
  policy = templatefile("${path.module}/policies/kms_use.json.tpl", {
    kms_actions = jsonencode(["kms:Decrypt", "kms:GenerateDataKey"])
    kms_key_arn = local.kms_key_arn
    region      = var.region
    bucket_arn  = local.bucket_arn
  })
}

locals {
  ci_attachments = merge([
    for package, roles in var.ci_role_names : {
      for role in roles : "${package}/${role}" => { package = package, role = role }
    }
  ]...)
  ci_kms_roles = toset(flatten(values(var.ci_role_names)))
}

resource "aws_iam_role_policy_attachment" "ci" {
  for_each = local.ci_attachments

  role       = each.value.role
  policy_arn = aws_iam_policy.ci[each.value.package].arn

  lifecycle {
    precondition {
      condition     = contains(local.package_names, each.value.package)
      error_message = "ci_role_names: \"${each.value.package}\" is not a package of infra/airflow/packages.yaml."
    }
  }
}

resource "aws_iam_role_policy_attachment" "ci_kms" {
  for_each = local.use_kms && length(local.packages) > 0 ? local.ci_kms_roles : toset([])

  role       = each.key
  policy_arn = aws_iam_policy.ci_kms[0].arn
}

# --- CI: promotion into this environment (`promote --from-env`) --------------------------------
# Only from var.promote_from (prod: staging; staging: dev; dev: none). A package's CI role of THIS
# environment gets read-only access to that package's prefix in the source environment's bucket
# (its manifest versions and its pinned files); the copy itself is a PutObject into this
# environment's prefix, which the publish policy above already grants. No other environment's
# releases are readable, so prod cannot be fed from dev.

locals {
  promote_source_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${try(var.promote_from.bucket_name, "none")}"
  promote_packages          = var.promote_from == null ? toset([]) : local.packages
  promote_kms               = try(var.promote_from.kms_key_arn, "") != ""
}

resource "aws_iam_policy" "ci_promote" {
  for_each = local.promote_packages

  name        = "${local.name_prefix}-ci-promote-${replace(each.key, "_", "-")}"
  description = "Promote releases of package ${each.key} from ${var.promote_from.environment} (read-only on s3://${var.promote_from.bucket_name}/${var.promote_from.environment}/${each.key}/)"
  policy = templatefile("${path.module}/policies/ci_promote.json.tpl", {
    source_bucket_arn  = local.promote_source_bucket_arn
    source_environment = var.promote_from.environment
    package            = each.key
  })
}

resource "aws_iam_policy" "ci_promote_kms" {
  count = local.promote_kms && length(local.packages) > 0 ? 1 : 0

  name        = "${local.name_prefix}-ci-promote-kms"
  description = "Decrypt objects of ${var.promote_from.bucket_name} (the ${var.promote_from.environment} bucket) through S3, to promote from it"
  policy = templatefile("${path.module}/policies/kms_use.json.tpl", {
    kms_actions = jsonencode(["kms:Decrypt"])
    kms_key_arn = var.promote_from.kms_key_arn
    region      = var.region
    bucket_arn  = local.promote_source_bucket_arn
  })
}

resource "aws_iam_role_policy_attachment" "ci_promote" {
  for_each = { for key, attachment in local.ci_attachments : key => attachment if var.promote_from != null }

  role       = each.value.role
  policy_arn = aws_iam_policy.ci_promote[each.value.package].arn
}

resource "aws_iam_role_policy_attachment" "ci_promote_kms" {
  for_each = local.promote_kms && length(local.packages) > 0 ? local.ci_kms_roles : toset([])

  role       = each.key
  policy_arn = aws_iam_policy.ci_promote_kms[0].arn
}
