variable "name" {
  description = "Cluster name; used in resource names and tags."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "create" {
  description = "Create and manage the bucket. When false nothing is created and bucket_name must name an existing bucket."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Name of the S3 bucket holding the cluster's data, bootstrap scripts and logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 characters: lowercase letters, digits, dots, hyphens)."
  }
}

variable "log_prefix" {
  description = "Key prefix under which log objects live; objects below it expire after log_expiration_days."
  type        = string
  default     = "logs/"
}

variable "log_expiration_days" {
  description = "Days after which objects under log_prefix (and noncurrent object versions anywhere) are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.log_expiration_days >= 1 && floor(var.log_expiration_days) == var.log_expiration_days
    error_message = "log_expiration_days must be a whole number of days, at least 1."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete the bucket even when it still holds objects."
  type        = bool
  default     = false
}
