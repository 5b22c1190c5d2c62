{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AirflowServiceAccountsViaIrsa",
      "Effect": "Allow",
      "Principal": {
        "Federated": "${oidc_provider_arn}"
      },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {
          "${oidc_provider}:aud": "sts.amazonaws.com",
          "${oidc_provider}:sub": ${service_account_subjects}
        }
      }
    }
  ]
}
