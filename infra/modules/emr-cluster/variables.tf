variable "name" {
  description = "Cluster name; used in resource names and tags."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module (the EMR v2 managed-policy tag is added automatically)."
  type        = map(string)
  default     = {}
}

variable "release_label" {
  description = "EMR release, e.g. emr-7.13.0."
  type        = string

  validation {
    condition     = can(regex("^emr-[0-9]+\\.[0-9]+\\.[0-9]+$", var.release_label))
    error_message = "release_label must look like emr-7.13.0."
  }
}

variable "subnet_id" {
  description = "ID of the subnet the cluster is launched in (must carry the tag for-use-with-amazon-emr-managed-policies = true)."
  type        = string
}

variable "additional_security_group_ids" {
  description = "Extra security groups for master and core/task nodes (the network module's cluster group; must carry the tag for-use-with-amazon-emr-managed-policies = true)."
  type        = list(string)
  default     = []
}

variable "additional_master_security_group_ids" {
  description = "Extra security groups for the master only (the network module's SSH group; same tag requirement)."
  type        = list(string)
  default     = []
}

variable "ssh_public_key" {
  description = "OpenSSH public key for the hadoop user of every node."
  type        = string
}

variable "bucket_name" {
  description = "S3 bucket for the bootstrap script, logs and data; the nodes may only use bucket_prefix inside it."
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
  description = "Primary node: instance type and EBS volume size in GiB."
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
  description = "Core node group: instance type, count, market (on_demand | spot) and EBS volume size in GiB."
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
  description = "Task node group: instance type, count (0 = no task group), market (on_demand | spot) and EBS volume size in GiB."
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

variable "configurations_json" {
  description = "EMR configurations (JSON list of classifications) computed by clusterctl's sizing."
  type        = string
  default     = "[]"

  validation {
    # a tuple, not tolist(): classifications differ in shape (spark-env nests an export)
    condition     = can(regex("^\\s*\\[", var.configurations_json)) && can(jsondecode(var.configurations_json))
    error_message = "configurations_json must be a JSON list of EMR configuration objects."
  }
}

variable "bootstrap_script" {
  description = "Bash script run on every node as an EMR bootstrap action (uploaded to s3://bucket/prefix/bootstrap/bootstrap.sh)."
  type        = string
}

variable "bootstrap_args" {
  description = "Arguments of the bootstrap action (clusterctl passes the S3 folder of the nodes' wheelhouse)."
  type        = list(string)
  default     = []
}

variable "idle_timeout_seconds" {
  description = "Seconds of idleness after which EMR terminates the cluster (60 - 604800); 0 turns auto-termination off."
  type        = number
  default     = 3600

  validation {
    condition     = var.idle_timeout_seconds == 0 || (var.idle_timeout_seconds >= 60 && var.idle_timeout_seconds <= 604800)
    error_message = "idle_timeout_seconds must be 0 (off) or between 60 and 604800 (7 days)."
  }
}

variable "task_configurations_json" {
  description = "EMR configurations of the task instance group alone (its own YARN sizing when its type differs from core's); null: the cluster's."
  type        = string
  default     = null

  validation {
    condition     = var.task_configurations_json == null ? true : (can(regex("^\\s*\\[", var.task_configurations_json)) && can(jsondecode(var.task_configurations_json)))
    error_message = "task_configurations_json must be a JSON list of EMR configuration objects."
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
