"""Providers by name; the CLI asks for one and uses only the protocol in ``base``."""

from clusterctl.providers.base import Provider
from clusterctl.spec import ClusterSpec
from clusterctl.state import Workdir


def get_provider(spec: ClusterSpec, workdir: Workdir) -> Provider:
    """The provider that runs ``spec``."""
    if spec.provider == "local":
        from clusterctl.providers.local import LocalProvider

        return LocalProvider(spec, workdir)
    if spec.provider == "ec2":
        from clusterctl.providers.ec2 import Ec2Provider

        return Ec2Provider(spec, workdir)
    from clusterctl.providers.emr import EmrProvider

    return EmrProvider(spec, workdir)
