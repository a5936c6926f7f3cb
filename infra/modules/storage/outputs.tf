output "bucket_name" {
  description = "Name of the bucket (the created one, or the given existing one when create = false)."
  value       = var.create ? aws_s3_bucket.this[0].id : var.bucket_name
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = var.create ? aws_s3_bucket.this[0].arn : local.bucket_arn
}
