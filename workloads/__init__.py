"""PySpark workloads shipped with clusterctl, laid out so the folder names say where code runs.

- ``jobs/`` run on the driver: each module is an entry point, ``spark-submit workloads/jobs/<module>.py ARGS``,
  and ``jobs/__init__.py`` is the one registry of them (adding a job touches its module and that registry).
- ``common/``, ``fruits/`` and ``faces/`` are importable inside executors' Python workers: nothing in them
  imports ``pyspark.ml``, so unpickling a task's function never loads it (only ``jobs/`` may).
- Nothing in ``workloads/`` imports ``clusterctl``: the package is zipped beside the job and runs unchanged
  on any cluster.
"""
