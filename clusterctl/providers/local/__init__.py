"""Spark standalone on 127.0.0.1 (master + workers as JVMs): the provider, its processes, its Java runtime."""
