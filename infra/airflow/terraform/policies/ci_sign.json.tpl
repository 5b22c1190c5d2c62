{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "SignReleasesWithOwnPackageKeysOnly",
      "Effect": "Allow",
      "Action": ["kms:Sign", "kms:GetPublicKey"],
      "Resource": ${signing_key_arns}
    }
  ]
}
