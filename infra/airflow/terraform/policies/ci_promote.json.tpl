{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadSourceEnvironmentReleasesOfOwnPackage",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion"],
      "Resource": "${source_bucket_arn}/${source_environment}/${package}/*"
    },
    {
      "Sid": "ReadSourceEnvironmentSettings",
      "Effect": "Allow",
      "Action": ["s3:GetObject"],
      "Resource": "${source_bucket_arn}/${source_environment}/_environment.json"
    },
    {
      "Sid": "ListSourceEnvironmentHistoryOfOwnPackage",
      "Effect": "Allow",
      "Action": ["s3:ListBucketVersions"],
      "Resource": "${source_bucket_arn}",
      "Condition": {
        "StringLike": {
          "s3:prefix": ["${source_environment}/${package}/*"]
        }
      }
    }
  ]
}
