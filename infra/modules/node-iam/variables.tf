variable "name" {
  description = "Name of the role and of its instance profile."
  type        = string
}

variable "purpose" {
  description = "Who uses the role, for its description, e.g. \"clusterctl demo: EC2 nodes\"."
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

variable "tags" {
  description = "Tags applied to the role and the instance profile."
  type        = map(string)
  default     = {}
}
