"""Provider conformance: every provider implements every verb of the protocol with the declared types,
and answers the layout, file and price questions the rest of clusterctl asks instead of branching on it."""

import inspect
import typing

import pytest

from clusterctl.config.properties import NodeLayout
from clusterctl.config.render import render_files
from clusterctl.config.spec import parse_spec
from clusterctl.errors import ClusterctlError, SpecError
from clusterctl.providers import PROVIDERS, get_provider, provider_class
from clusterctl.providers.base import ClusterStatus, DownResult, NodeCost, PlanResult, Provider
from clusterctl.providers.local.processes import free_port
from clusterctl.workdir import Workdir
from tests.conftest import aws_spec, local_spec

VERBS = sorted(
    name
    for name, member in vars(Provider).items()
    if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, staticmethod))
)


def spec_for(name: str):
    if name == "local":
        return parse_spec(local_spec(local={"master_port": free_port(), "webui_port": free_port()}))
    data = aws_spec(provider=name)
    if name == "emr":
        data["versions"] = {"emr_release": "emr-7.13.0"}
    if name == "ssh":
        data["ssh"] = {"master": "192.0.2.10", "core": ["192.0.2.11", "192.0.2.12"]}
    return parse_spec(data)


def test_protocol_lists_the_verbs_and_the_questions():
    assert {"plan", "up", "status", "submit", "logs", "down"} <= set(VERBS)
    assert {"node_layout", "extra_files", "node_costs", "default_spark_version", "data_uri"} <= set(VERBS)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@pytest.mark.parametrize("verb", VERBS)
def test_every_provider_implements_every_verb_with_the_declared_types(name, verb):
    cls = provider_class(name)
    assert cls.name == name
    declared = inspect.getattr_static(Provider, verb)
    implemented = inspect.getattr_static(cls, verb, None)
    assert implemented is not None, f"{cls.__name__} lacks {verb}"
    assert isinstance(implemented, staticmethod) == isinstance(declared, staticmethod), verb
    want, got = getattr(Provider, verb), getattr(cls, verb)
    assert list(inspect.signature(got).parameters) == list(inspect.signature(want).parameters), verb
    hints_want, hints_got = typing.get_type_hints(want), typing.get_type_hints(got)
    assert hints_got.get("return") == hints_want["return"], f"{cls.__name__}.{verb} returns {hints_got.get('return')}"
    for param in inspect.signature(want).parameters:
        if param != "self":
            assert hints_got.get(param) == hints_want.get(param), f"{cls.__name__}.{verb}({param})"


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_providers_answer_the_layout_file_and_price_questions(name, tmp_path):
    spec = spec_for(name)
    provider = get_provider(spec, Workdir(tmp_path / "wd"))
    assert provider.spec is spec
    layout = provider.node_layout()
    assert isinstance(layout, NodeLayout)
    assert len(layout.worker_hosts) == spec.node_groups.core.count
    assert layout.scheduler in ("standalone", "yarn")
    _, properties, contents = render_files(provider)
    extra = provider.extra_files(properties)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items())
    assert set(extra) <= set(contents)
    assert contents["conf/workers"].split() == list(layout.worker_hosts)
    costs = provider.node_costs()
    groups = [role for role, _ in spec.node_groups.items()]
    assert [c.role for c in costs][: len(groups)] == groups  # then what else the provider bills (addresses)
    assert all(isinstance(c, NodeCost) and c.count >= 1 for c in costs)
    assert isinstance(type(provider).default_spark_version(), str)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_cluster_never_started_reports_stopped_without_touching_anything(name, tmp_path):
    workdir = Workdir(tmp_path / "wd")
    provider = get_provider(spec_for(name), workdir)
    status = provider.status()
    assert isinstance(status, ClusterStatus) and status.state == "stopped" and status.provider == name
    if name == "local":
        assert provider.logs() == []
        assert isinstance(provider.down(lambda *a, **k: None), DownResult)
    else:
        with pytest.raises(ClusterctlError):
            provider.logs()
    assert not workdir.root.exists(), "a read-only verb created the workdir"


def test_prices_differ_by_provider_not_by_branching(tmp_path):
    local = get_provider(spec_for("local"), Workdir(tmp_path / "a"))
    ec2 = get_provider(parse_spec(aws_spec(region="us-east-1")), Workdir(tmp_path / "b"))
    assert {c.usd_per_hour for c in local.node_costs()} == {0.0}
    assert all(c.usd_per_hour and c.usd_per_hour > 0 for c in ec2.node_costs())
    plan = local.plan(lambda *a, **k: None)
    assert isinstance(plan, PlanResult) and plan.hourly_usd == 0.0


def test_default_data_locations_are_where_each_cluster_reads(tmp_path):
    local = get_provider(spec_for("local"), Workdir(tmp_path / "wd"))
    assert local.data_uri("Test") == (tmp_path / "wd" / "data" / "Test").as_uri()
    unknown = get_provider(spec_for("emr"), Workdir(tmp_path / "emr"))
    with pytest.raises(ClusterctlError, match="clusterctl up"):
        unknown.data_uri("Test")  # the bucket is named by AWS account at plan time: not known before up
    named = get_provider(parse_spec(aws_spec(storage={"bucket": "my-data", "prefix": "team/x"})), Workdir(tmp_path))
    assert named.data_uri("lfw") == "s3://my-data/team/x/data/lfw"


def test_scratch_goes_to_the_hdfs_clusterctl_reaches_else_beside_the_data(tmp_path):
    local = get_provider(spec_for("local"), Workdir(tmp_path / "wd"))
    assert local.scratch_uri("s") == (tmp_path / "wd" / "data" / "scratch" / "s").as_uri()
    for name in ("ec2", "ssh"):  # through the master: storage_access opens the SOCKS tunnel for it
        assert get_provider(spec_for(name), Workdir(tmp_path / name)).scratch_uri("s") == "hdfs://master:8020/scratch/s"
    bucket = {"storage": {"bucket": "my-data", "prefix": "data/x"}, "versions": {"emr_release": "emr-7.13.0"}}
    emr = get_provider(parse_spec(aws_spec(provider="emr", **bucket)), Workdir(tmp_path / "emr"))
    assert emr.scratch_uri("s") == "s3://my-data/data/x/scratch/s"  # a prefix named data/ stays as it is
    with pytest.raises(SpecError, match=r"^provider emr: the plain baseline runs on the worker nodes over SSH"):
        emr.worker_shells()  # at the call, before any block is entered
