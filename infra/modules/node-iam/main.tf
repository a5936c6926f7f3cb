# The nodes' IAM role and instance profile: S3 access to the cluster's bucket prefix and nothing else.

data "aws_partition" "current" {}

locals {
  prefix     = trimsuffix(trimprefix(var.bucket_prefix, "/"), "/")
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = var.name
  description        = "${var.purpose}, access to s3://${var.bucket_name}/${local.prefix}/ only"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = var.tags
}

data "aws_iam_policy_document" "bucket_prefix" {
  statement {
    sid       = "ListClusterPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.prefix}/*"]
    }
  }

  statement {
    sid    = "ReadWriteClusterPrefix"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
    ]
    resources = ["${local.bucket_arn}/${local.prefix}/*"]
  }
}

resource "aws_iam_role_policy" "bucket_prefix" {
  name   = "${var.name}-bucket-prefix"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.bucket_prefix.json
}

resource "aws_iam_instance_profile" "node" {
  name = var.name
  role = aws_iam_role.node.name

  tags = var.tags
}
