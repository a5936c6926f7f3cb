"""The ``clusterctl`` command line: parse, call the library, print. No logic lives here."""

import dataclasses
import inspect
import json
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clusterctl import __version__
from clusterctl.data.fetch import load_datasets
from clusterctl.data.subset import DEFAULT_DATA, DEFAULT_LFW, DEFAULT_LFW_META
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.nodeenv.requirements import TORCH_CPU_INDEX
from clusterctl.progress import Reporter
from clusterctl.providers import PROVIDERS
from workloads.jobs import JOBS

err = Console(stderr=True)
out = Console()

SPEC_OPTION = click.option(
    "-f",
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    default=Path("cluster.yaml"),
    show_default=True,
    help="Cluster spec file.",
)
DATASET_NAMES = list(load_datasets())
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextmanager
def _progress(quiet: bool = False) -> Iterator[Reporter]:
    """A rich progress display on stderr, handed to the library as a Reporter."""
    if quiet or not err.is_terminal:

        def plain(message: str, done: int | None = None, total: int | None = None) -> None:
            if not quiet:
                suffix = f" ({done}/{total})" if total is not None else ""
                err.print(f"[dim]…[/dim] {message}{suffix}", highlight=False)

        last = {"msg": ""}

        def dedup(message: str, done: int | None = None, total: int | None = None) -> None:
            key = f"{message}{done}{total}"
            if key != last["msg"]:
                last["msg"] = key
                plain(message, done, total)

        yield dedup
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("starting", total=None)

        def report(message: str, done: int | None = None, total: int | None = None) -> None:
            bar.update(task, description=message, completed=done or 0, total=total)

        yield report


def _with_job_list(command: click.Command) -> click.Command:
    """Append the bundled jobs, from the one registry in ``workloads.jobs``, to a command's help."""
    listing = "\n".join(f"  {name:<15} {entry.summary}" for name, entry in sorted(JOBS.items()))
    command.help = f"{inspect.cleandoc(command.help or '')}\n\n\b\n{listing}"
    return command


def _print_bench(result: dict[str, Any], as_json: bool) -> None:
    """A benchmark's JSON document, or the markdown it wrote."""
    if as_json:
        _emit_json(result)
    else:
        out.print(Path(result["markdown"]).read_text(), highlight=False, markup=False, soft_wrap=True)


WORKERS_OPTION = click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 8))
OUT_DIR_OPTION = click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("benchmarks"), show_default=True
)


def _job_summary(stdout: str) -> dict[str, Any]:
    """The JSON summary a bundled job prints last ({} for a job that prints none)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}


def _note(note: str | None) -> None:
    if note:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="clusterctl")
def cli() -> None:
    """Stand up Spark/Hadoop clusters, run image workloads on them, measure, tear down.

    \b
    Example (a real Spark cluster on this machine):
      clusterctl init --local && clusterctl up && clusterctl submit census -- --input ./images
      clusterctl down
    Cluster workdirs live in ./.clusterctl/<name>/ (override with CLUSTERCTL_HOME).
    """


@cli.command()
@click.option("--local", "provider", flag_value="local", help="A Spark cluster on this machine (default).")
@click.option(
    "--provider",
    "provider",
    type=click.Choice(list(PROVIDERS)),
    default="local",
    show_default=True,
    help="Where the cluster runs.",
)
@click.option("--name", default="demo", show_default=True, help="Cluster name.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Core nodes / workers.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("cluster.yaml"), show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(provider: str, name: str, workers: int, output: Path, force: bool) -> None:
    """Write a commented example spec.

    \b
    Example:
      clusterctl init --local --workers 2          # cluster.yaml for this machine
      clusterctl init --provider emr -o emr.yaml
    """
    from clusterctl.config.render import example_spec
    from clusterctl.config.spec import load_spec
    from clusterctl.providers import provider_class

    if output.exists() and not force:
        raise SpecError(f"{output} exists; pass --force to overwrite or -o to write elsewhere")
    spark = provider_class(provider).default_spark_version()
    output.write_text(example_spec(name, provider, spark, workers))
    load_spec(output)  # what init writes must validate
    err.print(f"wrote {output} (provider {provider}); next: clusterctl explain -f {output}")


@cli.command()
@SPEC_OPTION
@JSON_OPTION
def render(spec_path: Path, as_json: bool) -> None:
    """Render site XML, spark-defaults, spark-env and workers into the cluster's workdir.

    \b
    Example:
      clusterctl render -f cluster.yaml && cat .clusterctl/demo/conf/yarn-site.xml
    """
    from clusterctl.clusters import for_change

    opened, result = for_change(spec_path)
    files = [str(p) for p in result.files]
    if as_json:
        _emit_json({"cluster": opened.spec.name, "workdir": str(opened.workdir.root), "files": files})
        return
    for path in files:
        out.print(path, highlight=False)


@cli.command()
@SPEC_OPTION
@JSON_OPTION
@click.option("--file", "only_file", help="Only this file, e.g. yarn-site.xml.")
def explain(spec_path: Path, as_json: bool, only_file: str | None) -> None:
    """Print every rendered value with the rule (or override) that produced it.

    \b
    Example:
      clusterctl explain -f cluster.yaml --file spark-defaults.conf
    """
    from clusterctl.clusters import open_cluster
    from clusterctl.config.render import render_files

    opened = open_cluster(spec_path)
    spec = opened.spec
    sizing, settings, _ = render_files(opened.provider)
    if only_file and only_file not in settings:
        raise SpecError(f"--file {only_file}: not a rendered file; use one of {', '.join(settings)}")
    chosen = {k: v for k, v in settings.items() if only_file in (None, k)}
    if as_json:
        _emit_json(
            {
                "cluster": spec.name,
                "nodes": [asdict(sizing.master), *[asdict(w) for w in sizing.workers]],
                "files": {f: [asdict(s) for s in items.values()] for f, items in chosen.items()},
            }
        )
        return
    nodes = Table(title=f"{spec.name}: nodes ({spec.provider}, {spec.region})")
    for col in ("role", "type", "count", "vCPU", "RAM MiB", "YARN MiB"):
        nodes.add_column(col)
    for shape in (sizing.master, *sizing.workers):
        nodes.add_row(
            shape.role,
            shape.instance_type,
            str(shape.count),
            str(shape.vcpu),
            str(shape.memory_mb),
            str(shape.yarn_memory_mb),
        )
    out.print(nodes)
    for fname, items in chosen.items():
        table = Table(title=fname, show_lines=False)
        table.add_column("key", overflow="fold")
        table.add_column("value", overflow="fold")
        table.add_column("origin")
        table.add_column("rule", overflow="fold")
        for s in items.values():
            table.add_row(s.key, s.value, s.origin, s.rule)
        out.print(table)


def _print_status(status, as_json: bool) -> None:
    if as_json:
        _emit_json(status.to_dict())
        return
    out.print(
        f"[bold]{status.name}[/bold] ({status.provider}): {status.state}"
        + (f"  master {status.master_url}  ui {status.web_ui}" if status.master_url else "")
    )
    if status.workers:
        table = Table(title="workers")
        for col in ("id", "address", "cores", "memory MiB", "state"):
            table.add_column(col)
        for w in status.workers:
            table.add_row(w.id, w.host, str(w.cores), str(w.memory_mb), w.state)
        out.print(table)
    if status.apps:
        table = Table(title="applications")
        for col in ("id", "name", "state", "cores"):
            table.add_column(col)
        for a in status.apps:
            table.add_row(a.id, a.name, a.state, str(a.cores))
        out.print(table)
    if status.storage:
        hdfs = status.storage
        live = f", {hdfs['live_datanodes']} live DataNode(s)" if "live_datanodes" in hdfs else ""
        out.print(f"hdfs {hdfs['uri']}: {hdfs['state']}{live}", highlight=False)
    for name, service in status.services.items():
        facts = ", ".join(f"{k} {v}" for k, v in service.items() if k in ("pid", "app_id", "executors"))
        out.print(f"{name}: {service['state']} ({facts})", highlight=False)
    for note in status.notes:
        err.print(f"[yellow]note:[/yellow] {note}")


@cli.command()
@SPEC_OPTION
@JSON_OPTION
def plan(spec_path: Path, as_json: bool) -> None:
    """Render, then show what `up` would create, its hourly cost and risky settings (changes nothing).

    For ec2/emr: terraform init + plan -out (the plan `up` applies), summarised by resource type.

    \b
    Example:
      clusterctl plan -f emr.yaml --json | jq .hourly_usd
    """
    from clusterctl.clusters import for_change

    opened, _ = for_change(spec_path)
    spec = opened.spec
    with _progress() as report:
        result = opened.provider.plan(report)
    if as_json:
        _emit_json(result.to_dict() | {"cluster": spec.name, "provider": spec.provider})
        return
    table = Table(title=f"{spec.name}: plan ({spec.provider}, {spec.region})")
    for col in ("action", "resource type", "count"):
        table.add_column(col)
    for action in ("add", "change", "destroy"):
        for rtype, count in result.summary[action].items():
            table.add_row(action, rtype, str(count))
    out.print(table)
    nodes = Table(title="node groups and addresses (on-demand $/h; spot is billed less)")
    for col in ("role", "type", "count", "$/h each"):
        nodes.add_column(col)
    for node in result.nodes:
        price = node["usd_per_hour"]
        nodes.add_row(
            node["role"], node["instance_type"], str(node["count"]), "n/a" if price is None else f"{price:.4f}"
        )
    out.print(nodes)
    total = "unknown (no catalog price in this region)" if result.hourly_usd is None else f"${result.hourly_usd:.2f}/h"
    out.print(f"cluster cost: {total}" + (f"; SSH from {', '.join(result.ssh_cidrs)}" if result.ssh_cidrs else ""))
    for warning in result.summary["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")


@cli.command()
@SPEC_OPTION
@JSON_OPTION
@click.option(
    "--no-bootstrap",
    is_flag=True,
    help="ec2/ssh: create the machines only; a later `up` installs them (Hadoop, YARN/Spark, the venv).",
)
def up(spec_path: Path, as_json: bool, no_bootstrap: bool) -> None:
    """Render, start the cluster and wait until it works (no-op if already up).

    On ec2 and ssh the nodes are installed over SSH (ansible/site.yml) and `up` finishes only when
    every DataNode is live, every NodeManager (or Spark worker) registered and a smoke job ran.
    Running it again re-applies the rendered files and restarts only what changed.

    \b
    Example:
      clusterctl up -f cluster.yaml && clusterctl status
    """
    from clusterctl.clusters import for_change

    opened, _ = for_change(spec_path)
    with _progress() as report:
        status = opened.provider.up(report, bootstrap=not no_bootstrap)
    _print_status(status, as_json)


@cli.command()
@SPEC_OPTION
@JSON_OPTION
def status(spec_path: Path, as_json: bool) -> None:
    """Show workers, cores, memory and applications.

    \b
    Example:
      clusterctl status --json | jq .alive_workers
    """
    from clusterctl.clusters import as_rendered

    opened = as_rendered(spec_path)
    _note(opened.note)
    _print_status(opened.provider.status(), as_json)


@_with_job_list
@cli.command(context_settings={"ignore_unknown_options": True})
@SPEC_OPTION
@JSON_OPTION
@click.option(
    "--cold",
    is_flag=True,
    help="Start a driver of its own for this job even when the cluster keeps a warm one (spark.warm_driver).",
)
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def submit(spec_path: Path, as_json: bool, cold: bool, target: str, args: tuple[str, ...]) -> None:
    """Run a bundled workload (by name) or a PySpark file on the cluster and wait for it.

    The workloads package is shipped as a zip; arguments after `--` go to the job. With
    `spark.warm_driver: true` a bundled job runs in the cluster's long-lived driver (no JVM,
    interpreter or model start; `status` shows it); `--cold` or a PySpark file of your own stops
    that driver first, since it holds the executors.

    \b
    Example:
      clusterctl submit census -- --input ../shared/data/fruits-360/Test
      clusterctl submit faces-align -- --input ../shared/data/lfw
      clusterctl submit faces-embed          # reads faces-align's default output
      clusterctl submit ./my_job.py -- --rows 1000
      clusterctl submit --cold fruits -- --input ../shared/data/fruits-360/Test

    Bundled jobs (`-- --help` shows a job's options):
    """
    from clusterctl.clusters import as_rendered
    from clusterctl.jobs import resolve_job

    opened = as_rendered(spec_path)
    _note(opened.note)
    provider = opened.provider
    job = dataclasses.replace(resolve_job(target, args, opened.workdir.root), cold=cold)
    with _progress() as report:
        result = provider.submit(job, report, lambda line, *_: None if as_json else click.echo(line))
    if as_json:
        _emit_json(result.to_dict() | {"stdout_text": result.stdout.read_text()})
    if result.exit_code != 0:
        if result.exit_code != 2:  # 2: the job's own one-line error (a bad input or option) says it all
            tail = "\n".join(result.driver_log.read_text(errors="replace").splitlines()[-25:])
            err.print(tail, highlight=False, markup=False)
        # spark-submit merges the Python driver's stderr into its stdout: the job's own last word is there
        said = [ln for ln in result.stdout.read_text(errors="replace").splitlines() if ln.strip()]
        reason = f": {said[-1].strip()}" if said else ""
        raise ClusterctlError(
            f"job {job.name} failed (exit {result.exit_code}){reason}; full driver log: {result.driver_log}"
        )
    read = _job_summary(result.stdout.read_text()).get("input")
    err.print(
        f"[green]done[/green] {result.run_id} app {result.app_id} in {result.wall_seconds:.1f}s ({result.mode})"
        + (f"; read {escape(str(read))}" if read else "")
    )


@cli.command()
@SPEC_OPTION
@JSON_OPTION
@click.option("--run", "run_id", help="Run id (default: the latest run).")
@click.option("-n", "--lines", default=40, show_default=True, help="Lines from the end of each log.")
def logs(spec_path: Path, as_json: bool, run_id: str | None, lines: int) -> None:
    """Show the driver, executor and daemon logs of a run.

    \b
    Example:
      clusterctl logs -n 100
      clusterctl logs --run 20261125-101500-000000-census --json
    """
    from clusterctl.clusters import as_rendered

    opened = as_rendered(spec_path)
    _note(opened.note)
    files = opened.provider.logs(run_id)
    if as_json:
        _emit_json([{"label": f.label, "path": str(f.path)} for f in files])
        return
    if not files:
        err.print(f"no logs yet in {opened.workdir.root}: start the cluster with `clusterctl up`", highlight=False)
    for f in files:
        out.rule(f"{f.label}: {f.path}")
        text = f.path.read_text(errors="replace").splitlines() if f.path.exists() else ["(missing)"]
        out.print("\n".join(text[-lines:]), highlight=False, markup=False)


NODE_OPTIONS = (
    click.option("--node", "names", multiple=True, help="A node by name: master, core-1, task-2 (repeatable)."),
    click.option("--workers", "workers", is_flag=True, help="Every core and task node."),
    click.option("--all", "every", is_flag=True, help="Every node, the master first."),
)


def _node_options(command: Any) -> Any:
    for option in reversed(NODE_OPTIONS):
        command = option(command)
    return command


def _hosts(spec_path: Path):
    from clusterctl.clusters import as_rendered

    opened = as_rendered(spec_path)
    _note(opened.note)
    return opened, opened.provider.hosts()


@cli.command("ssh")
@SPEC_OPTION
@click.argument("node", default="master")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh_cmd(spec_path: Path, node: str, command: tuple[str, ...]) -> None:
    """Log in to a node (default: the master) with OpenSSH, or run COMMAND there.

    Uses the cluster's own known_hosts and key; workers are reached through the master.

    \b
    Example:
      clusterctl ssh
      clusterctl ssh core-1 -- df -h /mnt/clusterctl
    """
    import os

    from clusterctl.remote.hosts import ssh_argv

    _, hosts = _hosts(spec_path)
    (target,) = hosts.select([node])
    argv = ssh_argv(hosts, target, list(command) or None)
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def _prefixed(prefix: str, to_err: bool) -> Callable[[str], None]:
    """Echo a node's output lines, each with the node's name when several nodes answer."""
    return lambda text: click.echo(f"{prefix}{text}", err=to_err)


@cli.command("exec")
@SPEC_OPTION
@JSON_OPTION
@_node_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(
    spec_path: Path, as_json: bool, names: tuple[str, ...], workers: bool, every: bool, command: tuple[str, ...]
) -> None:
    """Run a shell command on nodes (default: the master); exit status is the worst node's.

    \b
    Example:
      clusterctl exec --all -- uptime
      clusterctl exec --workers --json -- 'jps | wc -l'
    """
    from clusterctl.remote.connection import Remote

    _, hosts = _hosts(spec_path)
    nodes = hosts.select(list(names), workers=workers, every=every)
    line = " ".join(command)
    results = []
    with Remote(hosts) as remote:
        for node in nodes:
            if as_json:
                outcome = remote.run(node, line)
            else:
                prefix = f"[{node.name}] " if len(nodes) > 1 else ""
                outcome = remote.run(node, line, on_stdout=_prefixed(prefix, False), on_stderr=_prefixed(prefix, True))
            results.append(outcome)
    if as_json:
        _emit_json([asdict(r) for r in results])
    worst = max(r.exit_code for r in results)
    if worst:
        failed = ", ".join(f"{r.node} ({r.exit_code})" for r in results if r.exit_code)
        err.print(f"[red]failed on[/red] {failed}", highlight=False)
        sys.exit(worst)


@cli.command("put")
@SPEC_OPTION
@_node_options
@click.argument("local", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("remote_path")
def put_cmd(spec_path: Path, names: tuple[str, ...], workers: bool, every: bool, local: Path, remote_path: str) -> None:
    """Copy a local file to nodes (default: the master); REMOTE_PATH is relative to the login home.

    \b
    Example:
      clusterctl put --all model.onnx models/model.onnx
    """
    from clusterctl.remote.connection import Remote

    _, hosts = _hosts(spec_path)
    with Remote(hosts) as remote:
        for node in hosts.select(list(names), workers=workers, every=every):
            remote.put(node, local, remote_path)
            err.print(f"{local} -> {node.name}:{remote_path}", highlight=False)


@cli.command("get")
@SPEC_OPTION
@click.option("--node", "name", default="master", show_default=True, help="The node to copy from.")
@click.argument("remote_path")
@click.argument("local", type=click.Path(path_type=Path), default=Path("."))
def get_cmd(spec_path: Path, name: str, remote_path: str, local: Path) -> None:
    """Copy a file from a node (default: the master) to LOCAL (a folder keeps its name).

    \b
    Example:
      clusterctl get /var/log/clusterctl/namenode.log .
      clusterctl get --node core-1 /var/log/clusterctl/datanode.log core-1-datanode.log
    """
    from clusterctl.remote.connection import Remote

    _, hosts = _hosts(spec_path)
    (node,) = hosts.select([name])
    with Remote(hosts) as remote:
        dest = remote.get(node, remote_path, local)
    err.print(f"{node.name}:{remote_path} -> {dest}", highlight=False)


@cli.command()
@SPEC_OPTION
@JSON_OPTION
def ui(spec_path: Path, as_json: bool) -> None:
    """Forward the master's web UIs (YARN 8088, Spark history 18080, HDFS 9870; standalone: Spark 8080)
    to 127.0.0.1 through SSH and print their URLs; Ctrl-C closes them. Nothing is opened to the internet.

    A UI keeps its own port when it is free here, else gets another.

    \b
    Example:
      clusterctl ui      # then open http://127.0.0.1:8088
    """
    import socket
    import threading
    from contextlib import ExitStack

    from clusterctl.remote.connection import Remote

    opened, hosts = _hosts(spec_path)
    uis = opened.provider.web_uis()
    urls: dict[str, str] = {}
    with Remote(hosts) as remote, ExitStack() as stack:
        for name, port in uis.items():
            with socket.socket() as probe:
                free = probe.connect_ex(("127.0.0.1", port)) != 0
            # the daemons listen on the master's own name (e.g. the ResourceManager on master:8088)
            local = stack.enter_context(remote.forward(hosts.master, port, port if free else 0, "master"))
            urls[name] = f"http://127.0.0.1:{local}"
        if as_json:
            click.echo(json.dumps(urls, sort_keys=True), nl=True)
            sys.stdout.flush()
        else:
            for name, url in urls.items():
                out.print(f"{name:<15} {url}", highlight=False)
            err.print("forwarding through SSH; Ctrl-C to stop", highlight=False)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


@cli.command()
@SPEC_OPTION
@JSON_OPTION
@click.option("--delete-bucket", is_flag=True, help="Also delete the bucket clusterctl created (and its results).")
def down(spec_path: Path, as_json: bool, delete_bucket: bool) -> None:
    """Stop everything the cluster started and verify nothing is left (safe to repeat).

    On AWS: terraform destroy, then a check that nothing tagged with the cluster remains.

    \b
    Example:
      clusterctl down -f cluster.yaml
    """
    from clusterctl.clusters import as_rendered

    opened = as_rendered(spec_path)
    _note(opened.note)
    with _progress() as report:
        result = opened.provider.down(report, delete_bucket=delete_bucket)
    if as_json:
        _emit_json(asdict(result))
        return
    out.print("stopped: " + (", ".join(result.stopped) or "nothing was running"), highlight=False)
    for line in result.verified:
        out.print(f"verified: {line}", highlight=False)


@cli.command()
@SPEC_OPTION
@JSON_OPTION
@click.option(
    "--bench-dir",
    type=click.Path(path_type=Path),
    default=Path("benchmarks"),
    show_default=True,
    help="Where to find the latest throughput benchmark.",
)
def cost(spec_path: Path, as_json: bool, bench_dir: Path) -> None:
    """$/h now, $ so far, and projected $ per million images (from the latest throughput benchmark).

    \b
    Example:
      clusterctl cost -f emr.yaml --json
    """
    from clusterctl.clusters import as_rendered
    from clusterctl.cost import cost_report

    opened = as_rendered(spec_path)
    _note(opened.note)
    spec, provider = opened.spec, opened.provider
    report = cost_report(spec, provider.node_costs(), provider.status(), bench_dir)
    if as_json:
        _emit_json(report)
        return

    def money(value: float | None) -> str:
        return "unknown" if value is None else f"${value:,.2f}"

    out.print(f"{spec.name} ({spec.provider}, {spec.region}): {report['state']}", highlight=False)
    when_running = money(report["usd_per_hour_when_running"])
    out.print(f"  now: {money(report['usd_per_hour'])}/h (when running: {when_running}/h)")
    out.print(
        f"  so far: {money(report['usd_so_far'])}"
        + (f" over {report['hours_running']:.2f} h" if report["hours_running"] is not None else "")
    )
    per_m = report["usd_per_million_images"]
    out.print(
        f"  per 1M images: {money(per_m)}"
        + (
            f" from {report['throughput_source']}"
            if per_m is not None
            else " (no throughput benchmark in " + str(bench_dir) + ")"
        ),
        highlight=False,
    )


@cli.command()
@click.option("--region", required=True, help="AWS region to sweep (IAM roles are account-wide: seen from any region).")
@click.option("--cluster", "only", help="Only this cluster, whatever its TTL (orphan clean-up).")
@click.option("--destroy", is_flag=True, help="Remove what is listed (default: list only).")
@click.option(
    "--delete-bucket",
    is_flag=True,
    help="Also empty and delete the clusters' buckets (default: kept, results live there).",
)
@click.option("--yes", is_flag=True, help="Do not ask before destroying.")
@JSON_OPTION
def sweep(region: str, only: str | None, destroy: bool, delete_bucket: bool, yes: bool, as_json: bool) -> None:
    """List (and with --destroy, remove) clusters whose clusterctl:ttl tag has expired.

    Lists everything `up` creates: instances, EMR clusters, the network, key pairs, IAM roles and
    instance profiles, the EMR KMS key and security configuration, buckets. Clusters with a workdir
    here are destroyed with terraform; others are removed directly, in dependency order.

    \b
    Example:
      clusterctl sweep --region eu-west-3                        # what expired, what it left
      clusterctl sweep --region eu-west-3 --destroy --yes        # remove it; buckets are kept
      clusterctl sweep --region eu-west-3 --cluster fruits --destroy --yes --delete-bucket
    """
    from clusterctl.providers.aws.sweep import sweep as do_sweep

    if destroy and not yes:
        with _progress() as report:
            listed = do_sweep(region, only, False, report)
        _print_sweep(listed, err)
        if not listed["clusters"]:
            return
        if not click.confirm(f"remove the {len(listed['clusters'])} clusters listed?", err=True):
            raise click.exceptions.Abort()
    with _progress() as report:
        result = do_sweep(region, only, destroy, report, delete_bucket=delete_bucket)
    if as_json:
        _emit_json(result)
    else:
        _print_sweep(result, out)
    failed = [info["error"] for info in result["clusters"].values() if info.get("error")]
    if failed:
        raise ClusterctlError("; ".join(failed))


def _print_sweep(result: dict[str, Any], console: Console) -> None:
    """The sweep's table (cluster, ttl, expired?, kind, id), then what was done to each cluster."""
    if not result["clusters"]:
        console.print(f"nothing to sweep in {result['region']}")
        return
    table = Table(title=f"clusterctl clusters to sweep in {result['region']}")
    for col in ("cluster", "ttl", "expired?", "kind", "id"):
        table.add_column(col)
    for name, info in result["clusters"].items():
        for res in info["resources"]:
            expired = "yes" if info["expired"] else "no"
            table.add_row(name, info["ttl"] or "none", expired, res["kind"], escape(res["id"]))
    console.print(table)
    for name, info in result["clusters"].items():
        if info.get("action"):
            console.print(f"{name}: {info['action']}", highlight=False)
        for action in info.get("actions", []):
            console.print(f"  {action}", highlight=False)


@cli.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Image folder (one sub-folder per class). Default: the Fruits-360 Test split if `clusterctl data fetch "
    "fruits360` fetched it, else the 320-image sample bundled with clusterctl.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the results go. Default: .clusterctl/demo/output.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16))
@click.option("--keep", is_flag=True, help="Leave the cluster running afterwards.")
@JSON_OPTION
def demo(data: Path | None, output: Path | None, workers: int, keep: bool, as_json: bool) -> None:
    """Local demo: cluster up, fruits pipeline (CNN features + StandardScaler + PCA) on a seeded
    32-class x 10-image subset, summary and plot paths printed, cluster down.

    \b
    Example:
      clusterctl demo --data ../shared/data/fruits-360/Test
    """
    from clusterctl.data.sets import default_fruits
    from clusterctl.demo import run_demo
    from clusterctl.workdir import clusters_home

    with _progress() as report:
        outcome = run_demo(
            data or default_fruits(),
            output or clusters_home() / "demo" / "output",
            workers,
            keep,
            report,
            lambda line, *_: None,
        )
    if as_json:
        _emit_json(outcome)
        return
    s = outcome["summary"]
    out.print(f"data: {outcome['data']}", highlight=False)
    out.print(
        f"{s['images']} images, {s['classes']} classes, {s['failed']} failed; "
        f"{s['model']['name']} features ({s['model']['dim']}-d) -> PCA k={s['k']} explains "
        f"{s['explained_variance_at_k']:.1%} of the variance; nearest neighbour same class "
        f"{s['nn_same_label_rate']:.1%}",
        highlight=False,
    )
    out.print(f"summary: {outcome['summary_file']}", highlight=False)
    for name, path in s["plots"].items():
        out.print(f"plot {name}: {path}", highlight=False)
    err.print(
        f"[green]demo done[/green] in {outcome['run']['wall_seconds']:.1f}s; cluster {'kept' if keep else 'stopped'}"
    )


@cli.group()
def data() -> None:
    """Data sets: fetch them, check them (manifest), take subsets.

    \b
    Example:
      clusterctl data fetch fruits360 --mirror ../shared/data
      clusterctl data manifest ./fruits-360/Test -o fruits.manifest.parquet
      clusterctl data subset ./lfw ./lfw-40 --min-per-class 40 --per-class 10 --seed 1
    """


@data.command("fetch")
@click.argument("name", type=click.Choice(sorted(DATASET_NAMES)))
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    default=None,
    help="Where data sets go (default: $CLUSTERCTL_DATA or ~/.cache/clusterctl/data).",
)
@click.option(
    "--mirror",
    default=None,
    help="A directory or http(s) URL with the same files (or, for a directory, the data set already extracted).",
)
@JSON_OPTION
def data_fetch(name: str, dest: Path | None, mirror: str | None, as_json: bool) -> None:
    """Download a data set (or the Hadoop release local.hdfs runs) from its canonical location or a mirror,
    check it, extract it.

    Interrupted downloads resume where they stopped; every file is checked against the publisher's
    checksum, and the result against its pinned tree digest where there is one.

    \b
    Example:
      clusterctl data fetch lfw-deepfunneled
      clusterctl data fetch lfw-pairs --mirror ../shared/data          # air-gapped
      clusterctl data fetch fruits360 --mirror https://mirror.example.org/datasets
      clusterctl data fetch hadoop --mirror https://dlcdn.apache.org/hadoop/common/hadoop-3.3.6   # local.hdfs
    """
    from clusterctl.data.fetch import fetch, load_datasets
    from clusterctl.data.sets import data_home

    with _progress() as report:
        result = fetch(load_datasets()[name], dest or data_home(), mirror, report)
    if as_json:
        _emit_json(result)
        return
    verb = "already fetched" if result["already"] else "fetched"
    out.print(f"{name} {verb}: {result['path']}", highlight=False)


@data.command("upload")
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "dest",
    default=None,
    help="s3://BUCKET/PREFIX, hdfs:///PATH, file:///DIR or a path. Default: the cluster's.",
)
@SPEC_OPTION
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 128), help="Files at once.")
@click.option(
    "--multipart-mb", default=8, show_default=True, type=click.IntRange(5, 5120), help="S3 multipart above this."
)
@click.option("--skip-bad", is_flag=True, help="Leave out files that do not decode as images.")
@JSON_OPTION
def data_upload(
    src: Path,
    dest: str | None,
    spec_path: Path,
    concurrency: int,
    multipart_mb: int,
    skip_bad: bool,
    as_json: bool,
) -> None:
    """Upload an image folder where the cluster reads it; skip what is already there; verify.

    The default destination is the cluster's: its bucket prefix on AWS (the nodes may read nothing
    else), its workdir on the local provider. A re-run after an interruption uploads only what is
    missing. An ec2/ssh cluster's HDFS (`--to hdfs:///data/NAME`) is reached through a SOCKS tunnel via
    the master: the same resume and sha256 checks, no distcp.

    \b
    Example:
      clusterctl data upload ../shared/data/fruits-360/Test -f emr.yaml        # s3://<bucket>/<prefix>/data/Test
      clusterctl data upload ./lfw --to s3://my-bucket/datasets/lfw --concurrency 32
      clusterctl data upload ./lfw --to hdfs:///data/lfw -f ec2.yaml           # through the master
    """
    import os

    from clusterctl.clusters import as_rendered
    from clusterctl.data.upload import open_store, upload

    if not src.is_dir():
        raise SpecError(f"{src}: no such directory; pass the image folder to upload")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    hadoop_conf = None
    access: AbstractContextManager[tuple[str, dict[str, str]]] = nullcontext((dest or "", {}))
    if dest is None or spec_path.is_file():
        opened = as_rendered(spec_path)
        _note(opened.note)
        region = opened.spec.region
        dest = dest or opened.provider.data_uri(src.resolve().name)
        hadoop_conf = opened.workdir.conf if opened.workdir.conf.is_dir() else None
        access = opened.provider.storage_access(dest)
    with access as (uri, settings):
        store = open_store(uri, region, multipart_mb, hadoop_conf, settings)
        try:
            with _progress() as report:
                result = upload(src, store, concurrency, skip_bad, report=report)
        finally:
            store.close()
    summary = result.to_dict()
    if as_json:
        _emit_json(summary)
    else:
        out.print(
            f"{store.uri}: {summary['uploaded']} uploaded, {summary['skipped']} already there, "
            f"{len(summary['failed'])} failed; {summary['files_per_s']} files/s, {summary['mb_per_s']} MB/s",
            highlight=False,
        )
    if why := result.incomplete():
        raise ClusterctlError(f"upload to {store.uri} incomplete ({why}); run the same command again to resume")


@data.command("manifest")
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Parquet file to write. Default: ./<SRC folder name>.manifest.parquet.",
)
@click.option("--threads", default=None, type=click.IntRange(1, 64), help="Files hashed and decoded at once.")
@JSON_OPTION
def data_manifest(src: Path, output: Path | None, threads: int | None, as_json: bool) -> None:
    """List every file under SRC with its label, size, SHA-256, width, height and whether it decodes.

    Corrupt files, non-images and empty folders are rows with their error, never a failure.

    \b
    Example:
      clusterctl data manifest ../shared/data/fruits-360/Test --json | jq .summary.classes
    """
    from clusterctl.data.manifest import build_manifest, summarize, write_manifest

    with _progress() as report:
        entries = build_manifest(src, threads, report)
    dest = write_manifest(entries, output or Path(f"{src.resolve().name}.manifest.parquet"))
    summary = summarize(entries)
    if as_json:
        _emit_json({"source": str(src.resolve()), "manifest": str(dest), "summary": summary})
        return
    out.print(
        f"{summary['files']} files, {summary['images']} images in {summary['classes']} classes "
        f"({summary['bytes'] / 1e6:,.1f} MB), {summary['errors']} with errors; manifest: {dest}",
        highlight=False,
    )
    for row in summary["first_errors"]:
        err.print(f"[yellow]{escape(row['path'])}[/yellow]: {escape(row['error'] or '')}", highlight=False)


@data.command("subset")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--classes", type=click.IntRange(1), default=None, help="How many classes (default: all).")
@click.option("--per-class", type=click.IntRange(1), default=None, help="Images per class (default: all).")
@click.option(
    "--min-per-class",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Only classes with at least this many images (e.g. LFW people with >= 40 photos).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same files.")
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@JSON_OPTION
def data_subset(
    src: Path,
    dest: Path,
    classes: int | None,
    per_class: int | None,
    min_per_class: int,
    seed: int,
    force: bool,
    as_json: bool,
) -> None:
    """Copy a seeded, reproducible subset of an image folder (one sub-folder per class) into DEST.

    \b
    Example:
      clusterctl data subset ../shared/data/fruits-360/Test ./fruits-small --classes 10 --per-class 20
      clusterctl data subset ../shared/data/lfw ./lfw-40 --min-per-class 40 --seed 7
    """
    from clusterctl.data.subset import class_images, make_subset

    if dest.exists() and any(dest.iterdir()) and not force:
        raise SpecError(f"{dest} exists and is not empty; pass --force to replace it or choose another DEST")
    if dest.resolve().is_relative_to(src.resolve()):
        raise SpecError(f"{dest} lies inside {src}; choose a DEST outside the source folder")
    make_subset(src, dest, classes, per_class, seed, min_per_class)
    counts = {name: len(files) for name, files in class_images(dest, "DEST").items()}
    if as_json:
        _emit_json({"source": str(src), "dest": str(dest), "seed": seed, "classes": counts})
        return
    out.print(f"{sum(counts.values())} images of {len(counts)} classes copied to {dest}", highlight=False)


@cli.group()
def nodeenv() -> None:
    """The nodes' Python environment: a hash-pinned lock, and a wheelhouse built once from it.

    \b
    Example:
      clusterctl nodeenv lock --spark 4.0.1     # rewrite the committed lock (PyPI + PyTorch's CPU index)
      clusterctl nodeenv build                  # download and check its files: ~/.cache/clusterctl/wheelhouse/<hash>
    """


def _package_sources(command: Any) -> Any:
    """--index-url, --extra-index-url, --torch-index, --find-links: where pip looks (never this machine's pip
    config)."""
    for option in reversed(
        [
            click.option("--index-url", default=None, help="Base index instead of PyPI (pip's --index-url)."),
            click.option("--extra-index-url", "extra_index_urls", multiple=True, help="Another index (repeatable)."),
            click.option(
                "--torch-index",
                default=TORCH_CPU_INDEX,
                show_default=True,
                help="Index of torch's CPU build, one more extra index ('' for none).",
            ),
            click.option("--find-links", "find_links", multiple=True, help="A folder or URL of wheels (repeatable)."),
        ]
    ):
        command = option(command)
    return command


@nodeenv.command("lock")
@click.option("--spark", "spark_version", default=None, help="pyspark version. Default: the Spark `init` writes.")
@click.option(
    "--out", "out_path", type=click.Path(path_type=Path), default=None, help="Lock file. Default: the committed one."
)
@_package_sources
@JSON_OPTION
def nodeenv_lock(
    spark_version: str | None,
    out_path: Path | None,
    index_url: str | None,
    extra_index_urls: tuple[str, ...],
    torch_index: str,
    find_links: tuple[str, ...],
    as_json: bool,
) -> None:
    """Resolve the nodes' packages (workloads + faces extras, pyspark, CPU torch, boto3) for manylinux
    x86_64 / CPython 3.11 and write them with exact versions and sha256 hashes.

    pip's configuration on this machine is ignored: packages come from PyPI (or --index-url), the
    extra indexes and --find-links only.

    \b
    Example:
      clusterctl nodeenv lock --spark 4.0.1
      clusterctl nodeenv lock --torch-index '' --find-links ./wheels --out nodes.lock --json
    """
    from clusterctl.nodeenv.requirements import DEFAULT_LOCK, lock_nodes

    with _progress() as report:
        lock = lock_nodes(
            out_path or DEFAULT_LOCK, spark_version, index_url, extra_index_urls, find_links, torch_index, report
        )
    if as_json:
        _emit_json({"lock": str(lock.path), "lock_hash": lock.hash, "pins": [e.requirement for e in lock.entries]})
        return
    out.print(f"{lock.path}: {len(lock.entries)} pins, lock {lock.hash[:16]}", highlight=False)


@nodeenv.command("build")
@click.option(
    "--lock", "lock_path", type=click.Path(path_type=Path), default=None, help="Lock file. Default: the committed one."
)
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    default=None,
    help="Where wheelhouses go, one folder per lock hash (default: $CLUSTERCTL_WHEELHOUSE or "
    "~/.cache/clusterctl/wheelhouse).",
)
@_package_sources
@JSON_OPTION
def nodeenv_build(
    lock_path: Path | None,
    dest: Path | None,
    index_url: str | None,
    extra_index_urls: tuple[str, ...],
    torch_index: str,
    find_links: tuple[str, ...],
    as_json: bool,
) -> None:
    """Download the lock's files for the nodes' platform into a wheelhouse, check each against the lock,
    and write its manifest.json. A rerun downloads only what is missing.

    \b
    Example:
      clusterctl nodeenv build
      clusterctl nodeenv build --lock nodes.lock --dest ./wheelhouse --torch-index '' --find-links ./wheels --json
    """
    from clusterctl.nodeenv.lock import read_lock
    from clusterctl.nodeenv.requirements import DEFAULT_LOCK, with_torch_index
    from clusterctl.nodeenv.wheelhouse import build_wheelhouse, install_command

    lock = read_lock(lock_path or DEFAULT_LOCK)
    extra = with_torch_index(extra_index_urls, torch_index)
    with _progress() as report:
        house = build_wheelhouse(lock, dest, index_url, find_links, extra_index_urls=extra, report=report)
    command = install_command("python3", house.path, house.path / house.lock_file)
    if as_json:
        _emit_json(house.to_dict() | {"install": command})
        return
    out.print(
        f"{house.path}: {len(house.files)} files ({house.bytes / 1e6:,.1f} MB; {house.downloaded} downloaded, "
        f"{house.kept} kept), lock {house.lock_hash[:16]}",
        highlight=False,
    )
    out.print(f"install on a node: {' '.join(command)}", highlight=False, markup=False)


@cli.group()
def bench() -> None:
    """Reproducible benchmarks, written to benchmarks/ as JSON + markdown (sessions: benchmarks/sessions/).

    \b
    Example:
      clusterctl bench startup --repeats 3 --out benchmarks
      clusterctl bench session fruits --sizes 64,320 --workers 1,2 --repeats 3
    """


@bench.command("startup")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 20))
@WORKERS_OPTION
@OUT_DIR_OPTION
@JSON_OPTION
def bench_startup(repeats: int, workers: int, out_dir: Path, as_json: bool) -> None:
    """Local `up` until all workers registered, and a trivial job's spark-submit wall time:
    default JVM flags vs the tuned (C1-only) ones, interleaved in one run.

    \b
    Example:
      clusterctl bench startup --repeats 3
    """
    from clusterctl.bench.startup import run_startup_bench

    with _progress() as report:
        result = run_startup_bench(repeats, workers, out_dir, report)
    _print_bench(result, as_json)


class _CommaList(click.ParamType):
    """A comma-separated list, parsed by ``clusterctl.bench.session.parse_<kind>``; its error is the usage error."""

    name = "list"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value
        from clusterctl.bench import session

        try:
            return getattr(session, f"parse_{self.kind}")(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _session_options(command: Any) -> Any:
    """The options of a benchmark session (``bench session SUITE``, ``bench fruits``)."""
    options = [
        click.option(
            "--data",
            type=click.Path(path_type=Path),
            default=None,
            help=f"Image folder, one sub-folder per class (person). Default: {DEFAULT_DATA} (fruits), "
            f"{DEFAULT_LFW} (faces).",
        ),
        click.option(
            "--sizes",
            type=_CommaList("sizes"),
            default="64,320,1000,all",
            show_default=True,
            help="Images per run: seeded subsets of the input, or all of it.",
        ),
        click.option(
            "--workers",
            type=_CommaList("counts"),
            default="1,2",
            show_default=True,
            help="Worker counts, a fresh cluster each; plain runs as many processes as it has executor cores.",
        ),
        click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 20), help="Runs of each mode."),
        click.option(
            "--modes",
            type=_CommaList("modes"),
            default="warm,cold,plain",
            show_default=True,
            help="warm (the warm driver), cold (spark-submit), plain (the baseline processes).",
        ),
        click.option(
            "-f",
            "--spec",
            "spec_path",
            type=click.Path(path_type=Path),
            default=None,
            help="Spec of the clusters (any provider), its core count set to each --workers; the subsets go to the "
            "cluster's storage (HDFS or its bucket) and plain runs on its worker nodes. Default: a local cluster of "
            "1-core workers.",
        ),
        click.option(
            "--price-as",
            default=None,
            help="Price each vCPU used as one of this catalog type in the spec's region. Default: the spec's own "
            "prices; a machine without one (local) as m5.xlarge.",
        ),
        click.option(
            "--out", "out_dir", type=click.Path(path_type=Path), default=Path("benchmarks/sessions"), show_default=True
        ),
        JSON_OPTION,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_session(suite: str, data: Path | None, out_dir: Path, as_json: bool, **settings: Any) -> None:
    from clusterctl.bench.report import write_report
    from clusterctl.bench.session import get_suite, run_session, write_session

    with _progress() as report:
        doc = run_session(suite, data or get_suite(suite).default_data, out_dir=out_dir, report=report, **settings)
    written = write_report(write_session(doc, out_dir))
    _print_bench(doc | written, as_json)


@bench.command("session")
@click.argument("suite", type=click.Choice(["fruits", "faces"]))
@_session_options
def bench_session(
    suite: str,
    data: Path | None,
    sizes: list,
    workers: list[int],
    repeats: int,
    modes: list[str],
    spec_path: Path | None,
    price_as: str | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """A benchmark session of SUITE (fruits: CNN features + PCA; faces: align + embed on an LFW-style folder):
    for each worker count a fresh cluster, for each size a seeded subset put where the cluster reads it, and per
    repeat the Spark job warm (the warm driver) and cold (spark-submit) and the plain baseline (one single-thread
    process per executor core, side by side on the cluster's worker machines), interleaved. Writes
    <out>/<suite>-<time>.json (every run, versions, git commit, machines, prices) and its report (markdown + PNG
    plots), and prints the report with its re-run command.

    \b
    Example:
      clusterctl bench session fruits --sizes 64,320,1000,all --workers 1,2 --repeats 3
      clusterctl bench session faces --data ../shared/data/lfw --sizes 320,all --workers 2
      clusterctl bench session fruits -f examples/ec2.yaml --sizes 1000,all --workers 2,4 --modes cold,plain
    """
    settings = {"spec": spec_path, "price_as": price_as, "modes": modes}
    _run_session(suite, data, out_dir, as_json, sizes=sizes, workers=workers, repeats=repeats, **settings)


@bench.command("fruits")
@_session_options
def bench_fruits(
    data: Path | None,
    sizes: list,
    workers: list[int],
    repeats: int,
    modes: list[str],
    spec_path: Path | None,
    price_as: str | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """The fruits session: `clusterctl bench session fruits` (see its help). benchmarks/fruits.md is the
    single-run comparison this replaced.

    \b
    Example:
      clusterctl bench fruits --data ../shared/data/fruits-360/Test --sizes 64,320,1000,all --workers 1,2
    """
    settings = {"spec": spec_path, "price_as": price_as, "modes": modes}
    _run_session("fruits", data, out_dir, as_json, sizes=sizes, workers=workers, repeats=repeats, **settings)


@bench.command("report")
@click.argument("sessions", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Default: beside each session.")
@JSON_OPTION
def bench_report(sessions: tuple[Path, ...], out_dir: Path | None, as_json: bool) -> None:
    """Render session JSONs to markdown + PNG plots (time vs images, throughput vs workers with the ideal
    line, where the time goes), with the published figures drawn alongside, and print them.

    \b
    Example:
      clusterctl bench report benchmarks/sessions/fruits-20261203T120000Z.json
    """
    from clusterctl.bench.report import write_report

    written = [write_report(path, out_dir) for path in sessions]
    if as_json:
        _emit_json(written)
        return
    for item in written:
        _print_bench(item, as_json)


@bench.command("compare")
@click.argument("a", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("b", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--noise-floor",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="The least noise assumed, as a fraction of the median wall.",
)
@JSON_OPTION
def bench_compare(a: Path, b: Path, noise_floor: float, as_json: bool) -> None:
    """Compare session B with session A (same suite), per workers, size and mode: the change in median wall
    time and images/s, against the noise = the larger of the two runs' spread (max - min) / median, at least
    --noise-floor. Exits 1 when any row is slower beyond the noise (a regression), else 0.

    \b
    Example:
      clusterctl bench compare benchmarks/sessions/fruits-A.json benchmarks/sessions/fruits-B.json
    """
    from clusterctl.bench.compare import compare
    from clusterctl.bench.session import load_session

    result = compare(load_session(a), load_session(b), noise_floor)
    if as_json:
        _emit_json(result)
    else:
        table = Table("workers", "size", "mode", "wall A (s)", "wall B (s)", "change", "noise", "verdict")
        for row in result["rows"]:
            cells = [f"{row[k]:.1f}" if k in row else "" for k in ("wall_a_s", "wall_b_s")]
            cells += [f"{row[k]:+.1%}" if k in row else "" for k in ("wall_change",)]
            cells += [f"{row['noise']:.1%}" if "noise" in row else ""]
            table.add_row(str(row["workers"]), row["size"], row["mode"], *cells, row["verdict"])
        out.print(table)
        for warning in result["warnings"]:
            _note(warning)
        out.print(f"{result['verdict']}: {result['regressions']} regression(s) beyond the noise", highlight=False)
    if result["regressions"]:
        sys.exit(1)


@bench.command("faces")
@click.option(
    "--lfw",
    type=click.Path(path_type=Path),
    default=DEFAULT_LFW,
    show_default=True,
    help="LFW image folder, one sub-folder per person.",
)
@click.option(
    "--meta",
    type=click.Path(path_type=Path),
    default=DEFAULT_LFW_META,
    show_default=True,
    help="Folder with LFW's pairs.txt.",
)
@WORKERS_OPTION
@click.option(
    "--detector-sample",
    default=400,
    show_default=True,
    type=click.IntRange(10, 100000),
    help="Images the detectors are compared on.",
)
@click.option(
    "--stream-files",
    default=24,
    show_default=True,
    type=click.IntRange(3, 1000),
    help="Snapshots timed through faces-stream (the first is reported apart).",
)
@click.option(
    "--model",
    default="sface",
    show_default=True,
    type=click.Choice(["sface", "dlib_resnet", "facenet"]),
    help="Embedder (faces-embed/faces-stream --model); faces-align crops what it reads.",
)
@click.option("--weights", default=None, help="Model weights, a path or an http(s) URL (facenet needs them).")
@click.option("--weights-sha256", default=None, help="SHA-256 the downloaded --weights URL must have.")
@click.option(
    "--jitters",
    default=0,
    show_default=True,
    type=click.IntRange(0, 100),
    help="dlib_resnet: average each face over N jittered copies.",
)
@click.option("--flip", is_flag=True, help="Average each face's embedding with its mirror's (faces-embed --flip).")
@click.option("--name", default="faces", show_default=True, help="Result file names: <out>/<name>.{json,md}.")
@OUT_DIR_OPTION
@JSON_OPTION
def bench_faces(
    lfw: Path,
    meta: Path,
    workers: int,
    detector_sample: int,
    stream_files: int,
    model: str,
    weights: str | None,
    weights_sha256: str | None,
    jitters: int,
    flip: bool,
    name: str,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Face workloads on the whole LFW: align + embed wall time and failures, identity accuracy (people with
    >= 40 faces) and the unknown-person gates, pairs 10-fold accuracy and AUC, detectors compared, streaming
    latency p50/p95. About 10 minutes on 2 cores with the default YuNet + SFace.

    \b
    Example:
      clusterctl bench faces --lfw ../shared/data/lfw --meta ../shared/data/lfw_meta
      clusterctl bench faces --model dlib_resnet --name faces_dlib
      clusterctl bench faces --model facenet --weights 20180402-114759-vggface2.pt --name faces_facenet
    """
    from clusterctl.bench.faces import run_faces_bench

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SpecError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (it names the result files)")

    with _progress() as report:
        embedder = {
            "model": model,
            "weights": weights,
            "weights_sha256": weights_sha256,
            "jitters": jitters,
            "flip": flip,
        }
        result = run_faces_bench(lfw, meta, out_dir, workers, detector_sample, stream_files, embedder, name, report)
    _print_bench(result, as_json)


@bench.command("upload")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Image folder to upload.",
)
@click.option(
    "--to", "targets", multiple=True, required=True, help="Destination URI (s3://, hdfs://, file://); repeatable."
)
@click.option(
    "--hadoop-conf", type=click.Path(path_type=Path), default=None, help="HADOOP_CONF_DIR for hdfs:// destinations."
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(2, 128), help="Parallel files.")
@click.option("--repeats", default=1, show_default=True, type=click.IntRange(1, 10))
@click.option("--note", "notes", multiple=True, help="A line for the results' markdown (how the data was made).")
@OUT_DIR_OPTION
@JSON_OPTION
def bench_upload(
    data: Path,
    targets: tuple[str, ...],
    hadoop_conf: Path | None,
    concurrency: int,
    repeats: int,
    notes: tuple[str, ...],
    out_dir: Path,
    as_json: bool,
) -> None:
    """`data upload` throughput to each destination: one file at a time vs --concurrency at once.

    Each run writes under a fresh <time>-run-N-MODE sub-prefix, so nothing is skipped. Against a local
    S3-compatible server, point CLUSTERCTL_AWS_ENDPOINT at it.

    \b
    Example:
      clusterctl bench upload --data ../shared/data/fruits-360/Test --to s3://bench/fruits --to file:///tmp/up
    """
    import os

    from clusterctl.bench.upload import run_upload_bench
    from clusterctl.providers.aws.client import endpoint

    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    labels = {t: f"{t} (endpoint {endpoint()})" if t.startswith("s3://") and endpoint() else t for t in targets}
    command = "clusterctl bench upload " + " ".join(
        [
            f"--data {data}",
            *(f"--to {t}" for t in targets),
            *([f"--hadoop-conf {hadoop_conf}"] if hadoop_conf else []),
            f"--concurrency {concurrency}",
            f"--repeats {repeats}",
        ]
    )
    with _progress() as report:
        result = run_upload_bench(
            data,
            list(targets),
            concurrency,
            repeats,
            out_dir,
            region,
            command,
            labels,
            list(notes),
            hadoop_conf,
            report,
        )
    _print_bench(result, as_json)


def main() -> None:
    """Console-script entry point: one-line errors and meaningful exit codes.

    SIGTERM unwinds like Ctrl-C, so a killed ``demo`` or ``bench`` still stops the cluster it started.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ClusterctlError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
