"""AWS providers (ec2, emr) over Terraform: the CLI wrapper, the root module, boto3 access, steps, prices, sweep."""
