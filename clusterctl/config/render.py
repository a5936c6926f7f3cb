"""Render a spec's files into its workdir with Jinja2 (StrictUndefined), deterministically."""

import getpass
import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2

from clusterctl import __version__
from clusterctl.config.properties import NodeLayout, Setting, build_properties
from clusterctl.config.sizing import Sizing, compute_sizing
from clusterctl.config.spec import ClusterSpec, spec_to_yaml
from clusterctl.resources import templates_dir
from clusterctl.workdir import Workdir


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["shell_quote"] = shlex.quote
    return env


STAMP = "render.json"  # what the last render wrote, and from which spec


class RenderTarget(Protocol):
    """What rendering needs from a provider (``providers.base.Provider`` has it all)."""

    spec: ClusterSpec
    workdir: Workdir

    def node_layout(self) -> NodeLayout:
        """Hosts, node paths and scheduler."""
        ...

    def extra_files(self, properties: dict[str, dict[str, Setting]]) -> dict[str, str]:
        """Files besides conf/."""
        ...


@dataclass(frozen=True)
class Rendered:
    """What ``render`` produced: the sizing, the properties and the files written."""

    sizing: Sizing
    settings: dict[str, dict[str, Setting]]
    files: tuple[Path, ...]


def spec_digest(spec: ClusterSpec) -> str:
    """SHA-256 of the spec's canonical YAML: equal for specs that mean the same."""
    return hashlib.sha256(spec_to_yaml(spec).encode()).hexdigest()


def render_files(target: RenderTarget) -> tuple[Sizing, dict[str, dict[str, Setting]], dict[str, str]]:
    """Compute the cluster's properties and return them with ``{relative path: content}`` (nothing written)."""
    spec = target.spec
    layout = target.node_layout()
    sizing = compute_sizing(spec)
    settings = build_properties(spec, sizing, layout)
    env = _env()
    out: dict[str, str] = {"cluster.yaml": spec_to_yaml(spec)}
    for fname, items in settings.items():
        ctx = {"cluster": spec.name, "file": fname, "settings": list(items.values())}
        tpl = "hadoop/site.xml.j2" if fname.endswith(".xml") else f"spark/{fname}.j2"
        out[f"conf/{fname}"] = env.get_template(tpl).render(ctx)
    out["conf/workers"] = env.get_template("spark/workers.j2").render(hosts=list(layout.worker_hosts))
    out["conf/log4j2.properties"] = env.get_template("spark/log4j2.properties.j2").render(cluster=spec.name)
    out |= target.extra_files(settings)
    return sizing, settings, out


def last_render(workdir: Workdir) -> dict[str, Any] | None:
    """The stamp of the workdir's last render (spec digest, files and their digests), or None."""
    try:
        return json.loads((workdir.root / STAMP).read_text())
    except (OSError, ValueError):
        return None


def spec_changed(spec: ClusterSpec, workdir: Workdir) -> bool:
    """True when the workdir was rendered from a spec other than ``spec``."""
    stamp = last_render(workdir)
    return stamp is not None and stamp.get("spec_sha256") != spec_digest(spec)


def render(target: RenderTarget) -> Rendered:
    """Write every file of the cluster into its workdir and stamp it.

    Unchanged files are left untouched; files the previous render wrote that this one does not
    (e.g. a module no longer called) are removed.
    """
    sizing, settings, contents = render_files(target)
    root = target.workdir.root
    before = (last_render(target.workdir) or {}).get("files", {})
    written = []
    for rel, content in contents.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
        if rel.endswith(".sh"):
            path.chmod(0o755)
        written.append(path)
    for rel in sorted(set(before) - set(contents)):
        (root / rel).unlink(missing_ok=True)
    stamp = {
        "clusterctl": __version__,
        "spec_sha256": spec_digest(target.spec),
        "files": {rel: hashlib.sha256(content.encode()).hexdigest() for rel, content in sorted(contents.items())},
    }
    (root / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    return Rendered(sizing, settings, tuple(written))


def example_spec(name: str, provider: str, spark_version: str, workers: int = 2) -> str:
    """The commented example spec that ``clusterctl init`` writes."""
    return (
        _env()
        .get_template("spec/cluster.yaml.j2")
        .render(
            name=name,
            provider=provider,
            filename="cluster.yaml",
            workers=workers,
            worker_cores=1,
            worker_memory_gib=2,
            spark_version=spark_version,
            owner=getpass.getuser(),
        )
    )
