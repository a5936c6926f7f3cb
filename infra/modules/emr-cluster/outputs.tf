output "cluster_id" {
  description = "ID of the EMR cluster (j-...)."
  value       = aws_emr_cluster.this.id
}

output "master_public_dns" {
  description = "Public DNS name of the EMR primary node."
  value       = aws_emr_cluster.this.master_public_dns
}

output "log_uri" {
  description = "S3 URI the cluster writes its logs to."
  value       = local.log_uri
}
