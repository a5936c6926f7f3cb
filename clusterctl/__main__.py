"""``python -m clusterctl`` = the ``clusterctl`` command."""

from clusterctl.cli import main

main()
