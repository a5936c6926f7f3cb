output "role_arn" {
  description = "ARN of the nodes' IAM role."
  value       = aws_iam_role.node.arn
}

output "instance_profile_name" {
  description = "Name of the nodes' instance profile."
  value       = aws_iam_instance_profile.node.name
}

output "instance_profile_arn" {
  description = "ARN of the nodes' instance profile."
  value       = aws_iam_instance_profile.node.arn
}
