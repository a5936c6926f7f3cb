"""Providers by name; the CLI asks for one and uses only the protocol in ``base``."""

from clusterctl.config.spec import ClusterSpec
from clusterctl.providers.base import Provider
from clusterctl.workdir import Workdir


def get_provider(spec: ClusterSpec, workdir: Workdir) -> Provider:
    """The provider that runs ``spec``."""
    if spec.provider == "local":
        from clusterctl.providers.local.provider import LocalProvider

        return LocalProvider(spec, workdir)
    if spec.provider == "ec2":
        from clusterctl.providers.aws.ec2 import Ec2Provider

        return Ec2Provider(spec, workdir)
    from clusterctl.providers.aws.emr import EmrProvider

    return EmrProvider(spec, workdir)
