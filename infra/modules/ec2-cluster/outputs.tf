output "master_public_ip" {
  description = "Public IPv4 address of the master node."
  value       = aws_instance.node["master-1"].public_ip
}

output "master_private_ip" {
  description = "Private IPv4 address of the master node."
  value       = aws_instance.node["master-1"].private_ip
}

output "core_private_ips" {
  description = "Private IPv4 addresses of the core nodes, in order core-1, core-2, ..."
  value       = [for i in range(var.core.count) : aws_instance.node["core-${i + 1}"].private_ip]
}

output "task_private_ips" {
  description = "Private IPv4 addresses of the task nodes, in order task-1, task-2, ... (empty when task.count is 0)."
  value       = [for i in range(var.task.count) : aws_instance.node["task-${i + 1}"].private_ip]
}

output "instance_ids" {
  description = "Instance IDs by role: { master = [...], core = [...], task = [...] }."
  value = {
    for role, group in local.groups : role => [for i in range(group.count) : aws_instance.node["${role}-${i + 1}"].id]
  }
}

output "instance_profile_name" {
  description = "Name of the nodes' IAM instance profile."
  value       = module.node_iam.instance_profile_name
}

output "role_arn" {
  description = "ARN of the nodes' IAM role."
  value       = module.node_iam.role_arn
}
