# Example root module: a 1 master + 2 core (+1 spot task) Spark cluster on plain EC2.
# clusterctl renders an equivalent root module from cluster.yaml; this hand-written one shows how
# to call the modules without clusterctl, and tests/integration/test_aws_terraform.py validates it.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = "eu-west-3"
}

locals {
  name   = "demo"
  bucket = "clusterctl-example-demo-eu-west-3"
  prefix = "clusterctl/demo"
  ttl    = "2030-01-01T00:00:00Z"
  tags = {
    "clusterctl:managed-by" = "clusterctl"
    owner                   = "me"
  }
}

module "network" {
  source = "../../modules/network"

  name      = local.name
  tags      = local.tags
  ssh_cidrs = ["203.0.113.7/32"]
}

module "storage" {
  source = "../../modules/storage"

  name                = local.name
  tags                = local.tags
  bucket_name         = local.bucket
  log_prefix          = "${local.prefix}/logs/"
  log_expiration_days = 30
}

module "cluster" {
  source = "../../modules/ec2-cluster"

  name               = local.name
  tags               = local.tags
  subnet_id          = module.network.subnet_id
  security_group_ids = [module.network.security_group_id]
  ssh_public_key     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGR0aGlzaXNub3RhcmVhbGtleWJ1dGl0cGFyc2VzMTIz clusterctl-example"
  bucket_name        = module.storage.bucket_name
  bucket_prefix      = local.prefix
  ttl                = local.ttl

  master = {
    instance_type = "m5.xlarge"
    disk_gib      = 64
  }

  core = {
    instance_type = "m5.xlarge"
    count         = 2
    market        = "on_demand"
    disk_gib      = 128
  }

  task = {
    instance_type = "m5.xlarge"
    count         = 1
    market        = "spot"
    disk_gib      = 64
  }
}

output "master_public_ip" {
  description = "Public IPv4 address of the master node."
  value       = module.cluster.master_public_ip
}

output "instance_ids" {
  description = "Instance IDs by role."
  value       = module.cluster.instance_ids
}
