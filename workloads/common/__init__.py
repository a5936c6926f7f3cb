"""What every job shares: images and labels, Hadoop URIs and I/O, timing, the job preamble, model caching.

Importable inside executors' Python workers; nothing here imports Spark ML.
"""
