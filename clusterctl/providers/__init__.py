"""Providers by name; everything outside ``providers/`` asks for one here and uses only the protocol in ``base``."""

from importlib import import_module

from clusterctl.config.spec import ClusterSpec
from clusterctl.providers.base import Provider
from clusterctl.workdir import Workdir

# name -> "module:class", imported on first use (the AWS providers pull in boto3)
PROVIDERS: dict[str, str] = {
    "local": "clusterctl.providers.local.provider:LocalProvider",
    "ec2": "clusterctl.providers.aws.ec2:Ec2Provider",
    "emr": "clusterctl.providers.aws.emr:EmrProvider",
    "ssh": "clusterctl.providers.ssh.provider:SshProvider",
}


def provider_class(name: str) -> type[Provider]:
    """The class of provider ``name`` (one of ``PROVIDERS``)."""
    module, _, cls = PROVIDERS[name].partition(":")
    return getattr(import_module(module), cls)


def get_provider(spec: ClusterSpec, workdir: Workdir) -> Provider:
    """The provider that runs ``spec`` from ``workdir``."""
    return provider_class(spec.provider)(spec, workdir)  # type: ignore[call-arg]
