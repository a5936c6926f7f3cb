data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  prefix        = trimsuffix(trimprefix(var.bucket_prefix, "/"), "/")
  bootstrap_key = "${local.prefix}/bootstrap/bootstrap.sh"
  log_uri       = "s3://${var.bucket_name}/${local.prefix}/logs/emr/"

  # AmazonEMRServicePolicy_v2 only acts on resources carrying this tag.
  emr_policy_tag = { "for-use-with-amazon-emr-managed-policies" = "true" }

  base_tags = merge(var.tags, local.emr_policy_tag, {
    "clusterctl:cluster" = var.name
    "clusterctl:ttl"     = var.ttl
  })

  additional_sgs        = length(var.additional_security_group_ids) > 0 ? join(",", var.additional_security_group_ids) : null
  master_sgs            = concat(var.additional_security_group_ids, var.additional_master_security_group_ids)
  additional_master_sgs = length(local.master_sgs) > 0 ? join(",", local.master_sgs) : null

  # EMR takes the Spot maximum price as a string; "OnDemandPrice" caps it at the On-Demand price.
  spot_bid_price = "OnDemandPrice"
}

resource "aws_key_pair" "this" {
  key_name   = "${var.name}-emr-key"
  public_key = var.ssh_public_key

  tags = merge(local.base_tags, { Name = "${var.name}-emr-key" })
}

# ---------------------------------------------------------------- IAM: EMR service role

data "aws_iam_policy_document" "assume_emr" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["elasticmapreduce.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "service" {
  name               = "${var.name}-emr-service"
  description        = "clusterctl ${var.name}: EMR service role"
  assume_role_policy = data.aws_iam_policy_document.assume_emr.json

  tags = local.base_tags
}

resource "aws_iam_role_policy_attachment" "service" {
  role       = aws_iam_role.service.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
}

# AmazonEMRServicePolicy_v2 can only pass the default EMR_EC2_DefaultRole; allow passing ours.
data "aws_iam_policy_document" "service_pass_role" {
  statement {
    sid       = "PassClusterInstanceRole"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [module.node_iam.role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "service_pass_role" {
  name   = "${var.name}-emr-pass-node-role"
  role   = aws_iam_role.service.id
  policy = data.aws_iam_policy_document.service_pass_role.json
}

# ---------------------------------------------------------------- IAM: node (EC2 instance profile) role

module "node_iam" {
  source = "../node-iam"

  name          = "${var.name}-emr-node"
  purpose       = "clusterctl ${var.name}: EMR nodes"
  bucket_name   = var.bucket_name
  bucket_prefix = var.bucket_prefix # data, the bootstrap script and the EMR logs (log_uri) all live below it
  tags          = local.base_tags
}

# ---------------------------------------------------------------- KMS key for local-disk (and EBS) encryption

resource "aws_kms_key" "this" {
  description             = "clusterctl ${var.name}: EMR local disk and EBS encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 7

  # Key policies always use Resource "*" (= this key).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "ClusterUse"
        Effect    = "Allow"
        Principal = { AWS = [module.node_iam.role_arn, aws_iam_role.service.arn] }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:DescribeKey",
        ]
        Resource = "*"
      },
      {
        # EBS encryption of the EMR-launched volumes works through grants created by the service role.
        Sid       = "ClusterGrantsForEbs"
        Effect    = "Allow"
        Principal = { AWS = [module.node_iam.role_arn, aws_iam_role.service.arn] }
        Action = [
          "kms:CreateGrant",
          "kms:ListGrants",
          "kms:RevokeGrant",
        ]
        Resource  = "*"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
    ]
  })

  tags = local.base_tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/clusterctl-${var.name}-emr"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_emr_security_configuration" "this" {
  name = "${var.name}-emr"

  configuration = jsonencode({
    EncryptionConfiguration = {
      EnableInTransitEncryption = false
      EnableAtRestEncryption    = true
      AtRestEncryptionConfiguration = {
        # SSE-S3 (not the cluster's CMK) so results stay readable after the key is deleted with the cluster.
        S3EncryptionConfiguration = {
          EncryptionMode = "SSE-S3"
        }
        LocalDiskEncryptionConfiguration = {
          EncryptionKeyProviderType = "AwsKms"
          AwsKmsKey                 = aws_kms_key.this.arn
          EnableEbsEncryption       = true
        }
      }
    }
    InstanceMetadataServiceConfiguration = {
      MinimumInstanceMetadataServiceVersion = 2
      HttpPutResponseHopLimit               = 1
    }
  })
}

# ---------------------------------------------------------------- security groups (EMR-managed)

resource "aws_security_group" "master" {
  name                   = "${var.name}-emr-master"
  description            = "clusterctl ${var.name}: EMR-managed group of the primary node (EMR maintains its rules)"
  vpc_id                 = data.aws_subnet.this.vpc_id
  revoke_rules_on_delete = true

  tags = merge(local.base_tags, { Name = "${var.name}-emr-master" })

  lifecycle {
    ignore_changes = [ingress, egress]
  }
}

resource "aws_security_group" "slave" {
  name                   = "${var.name}-emr-core"
  description            = "clusterctl ${var.name}: EMR-managed group of core and task nodes (EMR maintains its rules)"
  vpc_id                 = data.aws_subnet.this.vpc_id
  revoke_rules_on_delete = true

  tags = merge(local.base_tags, { Name = "${var.name}-emr-core" })

  lifecycle {
    ignore_changes = [ingress, egress]
  }
}

data "aws_subnet" "this" {
  id = var.subnet_id
}

# ---------------------------------------------------------------- bootstrap script

resource "aws_s3_object" "bootstrap" {
  bucket                 = var.bucket_name
  key                    = local.bootstrap_key
  content                = var.bootstrap_script
  content_type           = "text/x-shellscript"
  server_side_encryption = "aws:kms"

  tags = local.base_tags
}

# ---------------------------------------------------------------- cluster

resource "aws_emr_cluster" "this" {
  name          = var.name
  release_label = var.release_label
  applications  = ["Hadoop", "Spark"]

  service_role                      = aws_iam_role.service.arn
  security_configuration            = aws_emr_security_configuration.this.name
  log_uri                           = local.log_uri
  keep_job_flow_alive_when_no_steps = true
  termination_protection            = false
  visible_to_all_users              = true

  configurations_json = var.configurations_json

  dynamic "auto_termination_policy" {
    for_each = var.idle_timeout_seconds > 0 ? [var.idle_timeout_seconds] : []

    content {
      idle_timeout = auto_termination_policy.value
    }
  }

  ec2_attributes {
    subnet_id                         = var.subnet_id
    key_name                          = aws_key_pair.this.key_name
    instance_profile                  = module.node_iam.instance_profile_arn
    emr_managed_master_security_group = aws_security_group.master.id
    emr_managed_slave_security_group  = aws_security_group.slave.id
    additional_master_security_groups = local.additional_master_sgs
    additional_slave_security_groups  = local.additional_sgs
  }

  master_instance_group {
    name           = "master"
    instance_type  = var.master.instance_type
    instance_count = 1

    ebs_config {
      size                 = var.master.disk_gib
      type                 = "gp3"
      volumes_per_instance = 1
    }
  }

  core_instance_group {
    name           = "core"
    instance_type  = var.core.instance_type
    instance_count = var.core.count
    bid_price      = var.core.market == "spot" ? local.spot_bid_price : null

    ebs_config {
      size                 = var.core.disk_gib
      type                 = "gp3"
      volumes_per_instance = 1
    }
  }

  bootstrap_action {
    name = "clusterctl-bootstrap"
    path = "s3://${var.bucket_name}/${aws_s3_object.bootstrap.key}"
    args = var.bootstrap_args
  }

  tags = merge(local.base_tags, { Name = var.name })

  depends_on = [
    aws_iam_role_policy_attachment.service,
    aws_iam_role_policy.service_pass_role,
    module.node_iam,
  ]
}

resource "aws_emr_instance_group" "task" {
  count = var.task.count > 0 ? 1 : 0

  cluster_id     = aws_emr_cluster.this.id
  name           = "task"
  instance_type  = var.task.instance_type
  instance_count = var.task.count
  bid_price      = var.task.market == "spot" ? local.spot_bid_price : null

  # A task type other than core's gets its own NodeManager sizing (the cluster's is core's).
  configurations_json = var.task_configurations_json

  ebs_config {
    size                 = var.task.disk_gib
    type                 = "gp3"
    volumes_per_instance = 1
  }
}
