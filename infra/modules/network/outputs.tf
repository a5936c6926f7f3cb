output "vpc_id" {
  description = "ID of the cluster's VPC."
  value       = aws_vpc.this.id
}

output "subnet_id" {
  description = "ID of the cluster's public subnet."
  value       = aws_subnet.public.id
}

output "security_group_id" {
  description = "ID of the cluster security group (SSH from ssh_cidrs, intra-cluster traffic, HTTP(S) egress)."
  value       = aws_security_group.cluster.id
}

output "availability_zone" {
  description = "Availability zone of the subnet."
  value       = aws_subnet.public.availability_zone
}
