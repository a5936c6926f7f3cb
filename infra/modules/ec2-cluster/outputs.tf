output "master_public_ip" {
  description = "Public IPv4 address of the master node."
  value       = aws_instance.master[0].public_ip
}

output "master_private_ip" {
  description = "Private IPv4 address of the master node."
  value       = aws_instance.master[0].private_ip
}

output "core_private_ips" {
  description = "Private IPv4 addresses of the core nodes, in order core-1, core-2, ..."
  value       = aws_instance.core[*].private_ip
}

output "task_private_ips" {
  description = "Private IPv4 addresses of the task nodes, in order task-1, task-2, ... (empty when task.count is 0)."
  value       = aws_instance.task[*].private_ip
}

output "instance_ids" {
  description = "Instance IDs by role: { master = [...], core = [...], task = [...] }."
  value = {
    master = aws_instance.master[*].id
    core   = aws_instance.core[*].id
    task   = aws_instance.task[*].id
  }
}

output "instance_profile_name" {
  description = "Name of the nodes' IAM instance profile."
  value       = aws_iam_instance_profile.node.name
}

output "role_arn" {
  description = "ARN of the nodes' IAM role."
  value       = aws_iam_role.node.arn
}
