"""Spark standalone (master + workers as JVMs) on 127.0.0.1: the provider, its processes and its Java/pyspark runtime."""
