{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "UseBucketKeyThroughS3Only",
      "Effect": "Allow",
      "Action": ${kms_actions},
      "Resource": "${kms_key_arn}",
      "Condition": {
        "StringEquals": {
          "kms:ViaService": "s3.${region}.amazonaws.com"
        },
        "StringLike": {
          "kms:EncryptionContext:aws:s3:arn": ["${bucket_arn}", "${bucket_arn}/*"]
        }
      }
    }
  ]
}
