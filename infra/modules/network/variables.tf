variable "name" {
  description = "Cluster name; used as a prefix in resource names."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the cluster's VPC."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "subnet_cidr" {
  description = "CIDR block of the cluster's single public subnet (must lie inside vpc_cidr)."
  type        = string
  default     = "10.42.0.0/20"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a valid IPv4 CIDR block."
  }
}

variable "availability_zone" {
  description = "Availability zone of the subnet; null picks the region's first available zone."
  type        = string
  default     = null
}

variable "ssh_cidrs" {
  description = "CIDR blocks allowed to reach SSH (22/tcp) on the cluster nodes."
  type        = list(string)

  validation {
    condition     = length(var.ssh_cidrs) > 0
    error_message = "ssh_cidrs must contain at least one CIDR block."
  }

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0))])
    error_message = "Every entry of ssh_cidrs must be a valid CIDR block such as 203.0.113.7/32."
  }

  validation {
    condition     = var.allow_world_ssh || !contains(var.ssh_cidrs, "0.0.0.0/0")
    error_message = "ssh_cidrs contains 0.0.0.0/0 (SSH open to the world); set allow_world_ssh = true to allow it."
  }
}

variable "allow_world_ssh" {
  description = "Allow 0.0.0.0/0 in ssh_cidrs. Off by default: SSH should only be reachable from known addresses."
  type        = bool
  default     = false
}

variable "launch_tags" {
  description = "Extra tags on the subnet and the security groups, the resources a cluster launches into (EMR: for-use-with-amazon-emr-managed-policies = true, which AmazonEMRServicePolicy_v2 requires)."
  type        = map(string)
  default     = {}
}
