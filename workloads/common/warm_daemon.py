"""The Python daemon of the warm driver's executors: pyspark's own, with the fruits model loaded first.

Spark starts one daemon per executor (``spark.python.daemon.module``) and forks every Python worker from
it. Loading torch and the default model here, before any fork, gives each worker them for free (shared
copy-on-write pages) however often Spark replaces its idle workers. Nothing runs a model here, so no
intra-op thread pool exists yet when the workers are forked.
"""

from pyspark import daemon

from workloads.fruits.backends import DEFAULT_BACKEND
from workloads.fruits.features import extractor

if __name__ == "__main__":
    extractor(DEFAULT_BACKEND, None, 1)  # the key the fruits job asks for with one core per task
    daemon.manager()
