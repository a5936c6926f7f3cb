# Example root module: an EMR cluster (1 primary + 2 core + 1 spot task).
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
  name   = "demo-emr"
  bucket = "clusterctl-example-demo-emr-eu-west-3"
  prefix = "clusterctl/demo-emr"
  ttl    = "2030-01-01T00:00:00Z"
  tags = {
    "clusterctl:managed-by" = "clusterctl"
    owner                   = "me"
  }
}

module "network" {
  source = "../../modules/network"

  name = local.name
  # AmazonEMRServicePolicy_v2 only launches into subnets / security groups carrying this tag.
  tags      = merge(local.tags, { "for-use-with-amazon-emr-managed-policies" = "true" })
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
  source = "../../modules/emr-cluster"

  name                          = local.name
  tags                          = local.tags
  release_label                 = "emr-7.13.0"
  subnet_id                     = module.network.subnet_id
  additional_security_group_ids = [module.network.security_group_id]
  ssh_public_key                = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGR0aGlzaXNub3RhcmVhbGtleWJ1dGl0cGFyc2VzMTIz clusterctl-example"
  bucket_name                   = module.storage.bucket_name
  bucket_prefix                 = local.prefix
  idle_timeout_seconds          = 3600
  ttl                           = local.ttl

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

  configurations_json = jsonencode([
    {
      Classification = "yarn-site"
      Properties = {
        "yarn.nodemanager.resource.memory-mb"  = "12288"
        "yarn.nodemanager.resource.cpu-vcores" = "4"
        "yarn.scheduler.maximum-allocation-mb" = "12288"
      }
    },
    {
      Classification = "spark-defaults"
      Properties = {
        "spark.executor.cores"            = "4"
        "spark.executor.memory"           = "7g"
        "spark.executor.memoryOverhead"   = "3g"
        "spark.driver.memory"             = "5g"
        "spark.default.parallelism"       = "16"
        "spark.sql.shuffle.partitions"    = "16"
        "spark.dynamicAllocation.enabled" = "false"
      }
    },
  ])

  bootstrap_script = <<-BASH
    #!/bin/bash
    set -euo pipefail
    sudo mkdir -p /opt/clusterctl
    echo "clusterctl bootstrap done" | sudo tee /opt/clusterctl/bootstrap.done
  BASH
}

output "cluster_id" {
  description = "ID of the EMR cluster."
  value       = module.cluster.cluster_id
}

output "master_public_dns" {
  description = "Public DNS name of the EMR primary node."
  value       = module.cluster.master_public_dns
}

output "log_uri" {
  description = "S3 URI of the cluster logs."
  value       = module.cluster.log_uri
}
