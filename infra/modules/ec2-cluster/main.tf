# Latest official Debian 12 (bookworm) amd64 image; only looked up when no AMI is given.
data "aws_ami" "debian" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = ["136693071363"]

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.debian[0].id

  root_volume_gib  = 20
  data_device_name = "/dev/sdf"
  mount_point      = "/mnt/clusterctl"

  base_tags = merge(var.tags, {
    "clusterctl:cluster" = var.name
    "clusterctl:ttl"     = var.ttl
  })
}

resource "aws_key_pair" "this" {
  key_name   = "${var.name}-key"
  public_key = var.ssh_public_key

  tags = merge(local.base_tags, { Name = "${var.name}-key" })
}

# ---------------------------------------------------------------- IAM (least privilege)

module "node_iam" {
  source = "../node-iam"

  name          = "${var.name}-node"
  purpose       = "clusterctl ${var.name}: EC2 nodes"
  bucket_name   = var.bucket_name
  bucket_prefix = var.bucket_prefix
  tags          = local.base_tags
}

# The master has a role of its own: the same bucket prefix, plus what its autostop agent needs to end
# the cluster (workers, then itself) with nobody online. Workers run users' executors and get no EC2 rights.
module "master_iam" {
  source = "../node-iam"

  name          = "${var.name}-master"
  purpose       = "clusterctl ${var.name}: EC2 master (autostop)"
  bucket_name   = var.bucket_name
  bucket_prefix = var.bucket_prefix
  tags          = local.base_tags
}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "autostop" {
  statement {
    sid       = "FindClusterInstances"
    effect    = "Allow"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"] # DescribeInstances has no resource-level permissions
  }

  statement {
    sid       = "TerminateOwnClusterOnly"
    effect    = "Allow"
    actions   = ["ec2:TerminateInstances"]
    resources = ["arn:${data.aws_partition.current.partition}:ec2:*:*:instance/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/clusterctl:cluster"
      values   = [var.name]
    }
  }
}

resource "aws_iam_role_policy" "autostop" {
  name   = "${var.name}-autostop"
  role   = module.master_iam.role_name
  policy = data.aws_iam_policy_document.autostop.json
}

# ---------------------------------------------------------------- instances

# One map entry per node, keyed "<role>-<n>" so that shrinking a group only removes its last nodes.
locals {
  groups = {
    master = merge(var.master, { count = 1, market = "on_demand" })
    core   = var.core
    task   = var.task
  }
  nodes = merge([
    for role, group in local.groups : {
      for i in range(group.count) : "${role}-${i + 1}" => {
        role          = role
        instance_type = group.instance_type
        disk_gib      = group.disk_gib
        spot          = group.market == "spot"
      }
    }
  ]...)
}

resource "aws_instance" "node" {
  for_each = local.nodes

  ami                    = local.ami_id
  instance_type          = each.value.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = each.value.role == "master" ? concat(var.security_group_ids, var.master_security_group_ids) : var.security_group_ids
  key_name               = aws_key_pair.this.key_name
  iam_instance_profile   = each.value.role == "master" ? module.master_iam.instance_profile_name : module.node_iam.instance_profile_name
  # Every node reaches the package mirrors through the internet gateway (S3 through the gateway
  # endpoint); nothing reaches a worker from outside: only the master's SSH group admits traffic from
  # beyond the cluster. Public IPv4 at $0.005/h each is cheaper than a NAT gateway ($0.045/h + $0.045/GB).
  associate_public_ip_address = true
  monitoring                  = true
  ebs_optimized               = true

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    hostname    = each.value.role == "master" ? "master" : each.key
    data_gib    = each.value.disk_gib
    mount_point = local.mount_point
  })
  user_data_replace_on_change = true

  dynamic "instance_market_options" {
    for_each = each.value.spot ? [1] : []

    content {
      market_type = "spot"

      spot_options {
        instance_interruption_behavior = "terminate"
        spot_instance_type             = "one-time"
      }
    }
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = local.root_volume_gib
    encrypted             = true
    delete_on_termination = true
  }

  ebs_block_device {
    device_name           = local.data_device_name
    volume_type           = "gp3"
    volume_size           = each.value.disk_gib
    encrypted             = true
    delete_on_termination = true
  }

  tags = merge(local.base_tags, {
    Name              = "${var.name}-${each.key}"
    "clusterctl:role" = each.value.role
  })

  volume_tags = merge(local.base_tags, {
    Name              = "${var.name}-${each.key}"
    "clusterctl:role" = each.value.role
  })

  lifecycle {
    ignore_changes = [ami]
  }
}
