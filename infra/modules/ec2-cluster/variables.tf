variable "name" {
  description = "Cluster name; used in resource names and tags."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "subnet_id" {
  description = "ID of the subnet the nodes are launched in."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups attached to every node (the network module's cluster group)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "security_group_ids must contain at least one security group."
  }
}

variable "master_security_group_ids" {
  description = "Security groups attached to the master only (the network module's SSH group)."
  type        = list(string)
  default     = []
}

variable "ami_id" {
  description = "AMI for all nodes; null uses the latest official Debian 12 amd64 image."
  type        = string
  default     = null
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for the default user of every node."
  type        = string
}

variable "bucket_name" {
  description = "S3 bucket the nodes may use (only below bucket_prefix)."
  type        = string
}

variable "bucket_prefix" {
  description = "Key prefix (without trailing slash) inside bucket_name that the nodes may read and write."
  type        = string

  validation {
    condition     = length(trimsuffix(trimprefix(var.bucket_prefix, "/"), "/")) > 0
    error_message = "bucket_prefix must not be empty: the nodes are never given the whole bucket."
  }
}

variable "master" {
  description = "Master node: instance type and data volume size in GiB."
  type = object({
    instance_type = string
    disk_gib      = number
  })

  validation {
    condition     = var.master.disk_gib >= 1
    error_message = "master.disk_gib must be at least 1."
  }
}

variable "core" {
  description = "Core (worker) nodes: instance type, count, market (on_demand | spot) and data volume size in GiB."
  type = object({
    instance_type = string
    count         = number
    market        = string
    disk_gib      = number
  })

  validation {
    condition     = contains(["on_demand", "spot"], var.core.market)
    error_message = "core.market must be \"on_demand\" or \"spot\"."
  }

  validation {
    condition     = var.core.count >= 1 && var.core.disk_gib >= 1
    error_message = "core.count and core.disk_gib must be at least 1."
  }
}

variable "task" {
  description = "Task (compute-only) nodes: instance type, count (may be 0), market (on_demand | spot) and data volume size in GiB."
  type = object({
    instance_type = string
    count         = number
    market        = string
    disk_gib      = number
  })
  default = {
    instance_type = "m5.xlarge"
    count         = 0
    market        = "spot"
    disk_gib      = 64
  }

  validation {
    condition     = contains(["on_demand", "spot"], var.task.market)
    error_message = "task.market must be \"on_demand\" or \"spot\"."
  }

  validation {
    condition     = var.task.count >= 0 && var.task.disk_gib >= 1
    error_message = "task.count must be at least 0 and task.disk_gib at least 1."
  }
}

variable "ttl" {
  description = "RFC 3339 timestamp after which the cluster may be reaped; stored in the clusterctl:ttl tag."
  type        = string

  validation {
    condition     = can(formatdate("YYYY", var.ttl))
    error_message = "ttl must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z."
  }
}
