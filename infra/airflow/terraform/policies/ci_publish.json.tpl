{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadBucketVersioning",
      "Effect": "Allow",
      "Action": ["s3:GetBucketVersioning"],
      "Resource": "${bucket_arn}"
    },
    {
      "Sid": "ListOwnPackageManifestsAndJournal",
      "Effect": "Allow",
      "Action": ["s3:ListBucket"],
      "Resource": "${bucket_arn}",
      "Condition": {
        "StringLike": {
          "s3:prefix": ["${environment}/", "${environment}/${package}/*", "_journal/${environment}/", "_journal/${environment}/*"]
        }
      }
    },
    {
      "Sid": "ListOwnPackageVersions",
      "Effect": "Allow",
      "Action": ["s3:ListBucketVersions"],
      "Resource": "${bucket_arn}",
      "Condition": {
        "StringLike": {
          "s3:prefix": ["${environment}/${package}/*"]
        }
      }
    },
    {
      "Sid": "ReadOwnPackage",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion"],
      "Resource": "${bucket_arn}/${environment}/${package}/*"
    },
    {
      "Sid": "PublishOnlyTheLayoutsKeys",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:DeleteObject"],
      "Resource": [
        "${bucket_arn}/${environment}/${package}/manifest.json",
        "${bucket_arn}/${environment}/${package}/dags.tar.gz",
        "${bucket_arn}/${environment}/${package}/dags/*"
      ]
    },
    {
      "Sid": "ReadEnvironmentSettings",
      "Effect": "Allow",
      "Action": ["s3:GetObject"],
      "Resource": "${bucket_arn}/${environment}/_environment.json"
    },
    {
      "Sid": "ReadOtherManifestsForDagIdOwnership",
      "Effect": "Allow",
      "Action": ["s3:GetObject"],
      "Resource": "${bucket_arn}/${environment}/*/manifest.json"
    },
    {
      "Sid": "NoOtherFileNamedManifestJson",
      "Effect": "Deny",
      "Action": ["s3:GetObject"],
      "Resource": "${bucket_arn}/${environment}/*/*/manifest.json"
    },
    {
      "Sid": "KeepOwnReleasesById",
      "Effect": "Allow",
      "Action": ["s3:PutObject"],
      "Resource": "${bucket_arn}/_releases/${environment}/${package}/*"
    },
    {
      "Sid": "WriteOwnJournalEntries",
      "Effect": "Allow",
      "Action": ["s3:PutObject"],
      "Resource": "${bucket_arn}/_journal/${environment}/*-${package}"
    },
    {
      "Sid": "NeverRewriteHistoryOrBucketSettings",
      "Effect": "Deny",
      "Action": [
        "s3:DeleteObjectVersion",
        "s3:DeleteBucket",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketAcl",
        "s3:PutObjectAcl",
        "s3:PutObjectVersionAcl",
        "s3:BypassGovernanceRetention"
      ],
      "Resource": ["${bucket_arn}", "${bucket_arn}/*"]
    }
  ]
}
