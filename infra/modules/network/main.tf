data "aws_availability_zones" "available" {
  count = var.availability_zone == null ? 1 : 0

  state = "available"
}

locals {
  availability_zone = var.availability_zone != null ? var.availability_zone : data.aws_availability_zones.available[0].names[0]
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = "${var.name}-vpc" })
}

# Lock down the VPC's default security group: no ingress, no egress rules.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-igw" })
}

# Instances that need a public address ask for one themselves.
resource "aws_subnet" "public" {
  vpc_id                  = aws_vpc.this.id
  cidr_block              = var.subnet_cidr
  availability_zone       = local.availability_zone
  map_public_ip_on_launch = false

  tags = merge(var.tags, var.launch_tags, { Name = "${var.name}-public" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

# Cluster security group. Rules are separate resources (one per CIDR / peer).
resource "aws_security_group" "cluster" {
  name        = "${var.name}-cluster"
  description = "clusterctl ${var.name}: all traffic between cluster members, HTTP(S) out"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, var.launch_tags, { Name = "${var.name}-cluster" })
}

# SSH from the allowed CIDRs, attached to the master only: workers are reached through it (ProxyJump).
resource "aws_security_group" "ssh" {
  name        = "${var.name}-ssh"
  description = "clusterctl ${var.name}: SSH from allowed CIDRs, on the master only"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, var.launch_tags, { Name = "${var.name}-ssh" })
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = toset(var.ssh_cidrs)

  security_group_id = aws_security_group.ssh.id
  description       = "SSH from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22

  tags = merge(var.tags, { Name = "${var.name}-ssh" })
}

resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "All traffic from cluster members"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "-1"

  tags = merge(var.tags, { Name = "${var.name}-intra-cluster-in" })
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "All traffic to cluster members"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "-1"

  tags = merge(var.tags, { Name = "${var.name}-intra-cluster-out" })
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.cluster.id
  description       = "HTTPS to package mirrors, S3 and AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443

  tags = merge(var.tags, { Name = "${var.name}-https-out" })
}

resource "aws_vpc_security_group_egress_rule" "http" {
  security_group_id = aws_security_group.cluster.id
  description       = "HTTP to package mirrors"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80

  tags = merge(var.tags, { Name = "${var.name}-http-out" })
}

# S3 through a gateway endpoint: the nodes' S3 traffic (data, logs, event logs) stays on AWS's network
# and costs nothing per GB, unlike a NAT gateway's $0.045/GB.
data "aws_region" "current" {}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public.id]

  tags = merge(var.tags, { Name = "${var.name}-s3" })
}
