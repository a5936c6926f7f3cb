"""The face pipeline's parts: detection and alignment, embedders, identities, what runs in executors, reports.

Importable inside executors' Python workers (no Spark ML); the Spark jobs are ``jobs/faces_*.py``.
"""
