"""Providers by name; the CLI asks for one and uses only the protocol in ``base``."""

from clusterctl.errors import ClusterctlError
from clusterctl.providers.base import Provider
from clusterctl.spec import ClusterSpec
from clusterctl.state import Workdir


def get_provider(spec: ClusterSpec, workdir: Workdir) -> Provider:
    """The provider that runs ``spec``."""
    if spec.provider == "local":
        from clusterctl.providers.local import LocalProvider

        return LocalProvider(spec, workdir)
    raise ClusterctlError(
        f"provider {spec.provider!r}: up/status/submit/logs/down are not in this release yet; "
        "`clusterctl render` and `clusterctl explain` work for it, and provider local runs everything"
    )
