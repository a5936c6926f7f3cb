output "role_arn" {
  description = "ARN of the nodes' IAM role."
  value       = aws_iam_role.node.arn
}

output "role_name" {
  description = "Name of the nodes' IAM role, for attaching further policies (e.g. the master's autostop)."
  value       = aws_iam_role.node.name
}

output "instance_profile_name" {
  description = "Name of the nodes' instance profile."
  value       = aws_iam_instance_profile.node.name
}

output "instance_profile_arn" {
  description = "ARN of the nodes' instance profile."
  value       = aws_iam_instance_profile.node.arn
}
