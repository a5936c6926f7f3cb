output "vpc_id" {
  description = "ID of the cluster's VPC."
  value       = aws_vpc.this.id
}

output "subnet_id" {
  description = "ID of the cluster's public subnet."
  value       = aws_subnet.public.id
}

output "security_group_id" {
  description = "ID of the cluster security group (intra-cluster traffic, HTTP(S) egress), on every node."
  value       = aws_security_group.cluster.id
}

output "ssh_security_group_id" {
  description = "ID of the security group admitting SSH from ssh_cidrs; attach it to the master only."
  value       = aws_security_group.ssh.id
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint on the subnet's route table."
  value       = aws_vpc_endpoint.s3.id
}

output "availability_zone" {
  description = "Availability zone of the subnet."
  value       = aws_subnet.public.availability_zone
}
