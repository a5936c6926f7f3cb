"""Render a spec's files into its workdir with Jinja2 (StrictUndefined), deterministically."""

import getpass
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2

from clusterctl.config.properties import Setting, build_settings, worker_hosts
from clusterctl.config.sizing import Sizing, compute_sizing
from clusterctl.config.spec import ClusterSpec, spec_to_yaml
from clusterctl.providers.aws.root_module import TF_DIR, copy_modules, root_module_json
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


@dataclass(frozen=True)
class Rendered:
    """What ``render`` produced: the sizing, the settings and the files written."""

    sizing: Sizing
    settings: dict[str, dict[str, Setting]]
    files: tuple[Path, ...]


def render_files(spec: ClusterSpec, workdir: Workdir) -> tuple[Sizing, dict[str, dict[str, Setting]], dict[str, str]]:
    """Compute the cluster's settings and return them with ``{relative path: content}`` (nothing written)."""
    sizing = compute_sizing(spec)
    settings = build_settings(spec, sizing, workdir.root)
    env = _env()
    out: dict[str, str] = {"cluster.yaml": spec_to_yaml(spec)}
    for fname, items in settings.items():
        ctx = {"cluster": spec.name, "file": fname, "settings": list(items.values())}
        tpl = "hadoop/site.xml.j2" if fname.endswith(".xml") else f"spark/{fname}.j2"
        out[f"conf/{fname}"] = env.get_template(tpl).render(ctx)
    out["conf/workers"] = env.get_template("spark/workers.j2").render(hosts=worker_hosts(spec))
    out["conf/log4j2.properties"] = env.get_template("spark/log4j2.properties.j2").render(cluster=spec.name)
    if spec.provider != "local":
        out[f"{TF_DIR}/main.tf.json"] = root_module_json(spec, settings)
    return sizing, settings, out


def render(spec: ClusterSpec, workdir: Workdir) -> Rendered:
    """Write every file of the cluster into its workdir; unchanged files are left untouched."""
    sizing, settings, contents = render_files(spec, workdir)
    written = []
    for rel, content in contents.items():
        path = workdir.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
        if rel.endswith(".sh"):
            path.chmod(0o755)
        written.append(path)
    if spec.provider != "local":
        written += copy_modules(spec, workdir.root)
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
