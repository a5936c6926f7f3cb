"""One reproducible Python environment for the cluster nodes.

``requirements`` says what the nodes need (the ``workloads`` and ``faces`` extras, pyspark at the
cluster's Spark, the CPU build of torch, boto3); ``lock`` resolves that once for the nodes' platform
(manylinux x86_64, CPython 3.11) into a pip requirements file with an exact version and sha256 per
package; ``wheelhouse`` downloads the locked files once, checks them, and says the one command a node
runs to install them offline. ``pip`` runs pip with none of this machine's pip configuration.
"""
