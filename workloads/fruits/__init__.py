"""The fruits pipeline's parts: CNN backends, featurizing, the plain single-process baseline and the report.

Importable inside executors' Python workers (no Spark ML); the Spark job itself is ``jobs/fruits.py``.
"""
