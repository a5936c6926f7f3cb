"""Open a cluster for a command: to change it (render first) or to act on what was rendered.

``render``, ``plan`` and ``up`` render the spec into the workdir. Every other command (``status``,
``logs``, ``cost``, ``submit``, ``down``) reads the workdir as the last render left it and never
rewrites it: when the spec file changed since, they act on the rendered copy (what is running)
and say so, instead of silently re-rendering under a running cluster.
"""

from dataclasses import dataclass
from pathlib import Path

from clusterctl.config.render import Rendered, render, spec_changed
from clusterctl.config.spec import ClusterSpec, load_spec
from clusterctl.providers import get_provider
from clusterctl.providers.base import Provider
from clusterctl.workdir import Workdir


@dataclass(frozen=True)
class Opened:
    """A cluster's spec, workdir and provider, and a note for the user (None when there is nothing to say)."""

    spec: ClusterSpec
    workdir: Workdir
    provider: Provider
    note: str | None = None


def open_cluster(spec_path: Path) -> Opened:
    """The cluster of ``spec_path`` without rendering anything (for ``explain`` and the commands that only read)."""
    spec = load_spec(spec_path)
    workdir = Workdir.for_cluster(spec.name)
    return Opened(spec, workdir, get_provider(spec, workdir))


def for_change(spec_path: Path) -> tuple[Opened, Rendered]:
    """Render the spec into its workdir (``render``, ``plan``, ``up``) and return the cluster."""
    opened = open_cluster(spec_path)
    return opened, render(opened.provider)


def as_rendered(spec_path: Path) -> Opened:
    """The cluster as last rendered: the workdir's copy of the spec when ``spec_path`` has changed since.

    Writes nothing. A cluster never rendered is opened from ``spec_path`` (it is not running).
    """
    opened = open_cluster(spec_path)
    rendered_copy = opened.workdir.root / "cluster.yaml"
    if not spec_changed(opened.spec, opened.workdir) or not rendered_copy.is_file():
        return opened
    spec = load_spec(rendered_copy)
    note = (
        f"{spec_path} changed since {spec.name} was last rendered; this command used the rendered spec "
        f"({rendered_copy}); run `clusterctl up -f {spec_path}` to apply the change"
    )
    return Opened(spec, opened.workdir, get_provider(spec, opened.workdir), note)
