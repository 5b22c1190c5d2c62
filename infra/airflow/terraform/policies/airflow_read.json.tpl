{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ListEnvironmentAndJournal",
      "Effect": "Allow",
      "Action": ["s3:ListBucket"],
      "Resource": "${bucket_arn}",
      "Condition": {
        "StringLike": {
          "s3:prefix": ["${environment}/", "${environment}/*", "_journal/${environment}/", "_journal/${environment}/*"]
        }
      }
    },
    {
      "Sid": "ReadEnvironmentObjects",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion"],
      "Resource": ["${bucket_arn}/${environment}/*", "${bucket_arn}/_journal/${environment}/*",
                   "${bucket_arn}/_releases/${environment}/*"]
    }
  ]
}
