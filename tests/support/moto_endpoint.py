"""A moto server on 127.0.0.1 in this process, for terraform and the CLI to talk to as if it were AWS.

moto leaves ``MonitorInstances`` unimplemented (HTTP 500), and the ec2-cluster module turns on
detailed monitoring, so the server answers it the way EC2 does. Nothing else is changed.
"""

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from moto.core.responses import ActionResult
from moto.ec2.responses.monitoring import Monitoring
from moto.server import ThreadedMotoServer


def _monitor_instances(self: Monitoring) -> ActionResult:
    self.error_on_dryrun()
    ids = self._get_param("InstanceIds", [])
    return ActionResult({"InstanceMonitorings": [{"InstanceId": i, "Monitoring": {"State": "enabled"}} for i in ids]})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """Run a moto server on a free loopback port; yield its URL; stop it afterwards."""
    Monitoring.monitor_instances = _monitor_instances  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
