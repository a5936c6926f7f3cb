"""Reaching a cluster's nodes: who they are (hosts), SSH with Fabric (connection), the Ansible bootstrap
(bootstrap) and the checks that say the cluster works (health)."""
