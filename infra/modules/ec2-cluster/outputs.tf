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
  description = "Name of the workers' IAM instance profile (bucket prefix access only; the master has its own)."
  value       = module.node_iam.instance_profile_name
}

output "role_arn" {
  description = "ARN of the workers' IAM role (bucket prefix access only; the master has its own)."
  value       = module.node_iam.role_arn
}

output "master_instance_profile_name" {
  description = "Name of the master's IAM instance profile (the nodes' bucket access plus terminating this cluster's instances)."
  value       = module.master_iam.instance_profile_name
}

output "master_role_arn" {
  description = "ARN of the master's IAM role (the nodes' bucket access plus terminating this cluster's instances)."
  value       = module.master_iam.role_arn
}

output "ami_id" {
  description = "AMI the nodes run (the spec's, or the Debian 12 image looked up at plan time): recorded with every session."
  value       = local.ami_id
}
