"""clusterctl: stand up Spark/Hadoop clusters, run image workloads on them, measure, tear down."""

__version__ = "0.1.0"
