"""Spec validation: every bad input gives one line naming the field and the fix."""

import copy

import pytest
import yaml

from clusterctl.config.spec import load_spec, parse_spec
from clusterctl.errors import SpecError
from tests.conftest import aws_spec, local_spec, run_cli


def _err(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "cluster.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("cluster.yaml: ")
    return msg


def test_valid_specs_load():
    spec = parse_spec(aws_spec())
    assert spec.node_groups.core.count == 2
    assert spec.network.ssh_cidrs is None  # = caller's /32 at plan time
    local = parse_spec(local_spec())
    assert local.provider == "local" and local.local.master_port == 7077


def test_provider_defaults_to_local_and_network_to_callers_ip():
    data = local_spec()
    del data["provider"]
    assert parse_spec(data).provider == "local"
    assert parse_spec(aws_spec()).network.allow_world_ssh is False


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(colour="blue"), "colour: unknown key"),
        (lambda d: d.update(nodegroups={}), "nodegroups: unknown key; did you mean 'node_groups'?"),
        (
            lambda d: d["node_groups"]["core"].update(cont=3),
            "node_groups.core.cont: unknown key; did you mean 'count'?",
        ),
        (lambda d: d.update(network={"ssh_cidr": []}), "network.ssh_cidr: unknown key; did you mean 'ssh_cidrs'?"),
    ],
)
def test_unknown_keys(mutate, expected):
    data = aws_spec()
    mutate(data)
    assert expected in _err(data)


def test_unknown_instance_type_suggests_close_match():
    msg = _err(aws_spec(core="m5.xlarg"))
    assert "node_groups.core.instance_type: unknown instance type 'm5.xlarg'; did you mean m5.xlarge?" in msg
    assert "m4.large" in msg


def test_instance_type_outside_catalog_family():
    assert "unknown instance type 'c5.xlarge'" in _err(aws_spec(core="c5.xlarge"))


@pytest.mark.parametrize(
    ("cidrs", "expected"),
    [
        (["10.0.0.1/24"], "network.ssh_cidrs: '10.0.0.1/24' has host bits set; write 10.0.0.0/24"),
        (["banana"], "network.ssh_cidrs: 'banana' is not a CIDR block"),
        (["203.0.113.7/33"], "'203.0.113.7/33' is not a CIDR block"),
        ([], "network.ssh_cidrs: empty list"),
        (["0.0.0.0/0"], "network.ssh_cidrs: 0.0.0.0/0 opens SSH to the whole internet"),
        (["::/0"], "::/0 opens SSH to the whole internet"),
    ],
)
def test_bad_cidrs(cidrs, expected):
    assert expected in _err(aws_spec(network={"ssh_cidrs": cidrs}))


def test_world_ssh_needs_explicit_opt_in():
    spec = parse_spec(aws_spec(network={"ssh_cidrs": ["0.0.0.0/0"], "allow_world_ssh": True}))
    assert spec.network.ssh_cidrs == ["0.0.0.0/0"]


@pytest.mark.parametrize("count", [0, -1])
def test_counts_below_one(count):
    assert f"node_groups.core.count: input should be greater than or equal to 1 (got {count})" in _err(
        aws_spec(count=count)
    )


def test_master_count_must_be_one():
    data = aws_spec()
    data["node_groups"]["master"]["count"] = 2
    assert "node_groups.master.count: a cluster has exactly one master" in _err(data)


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ({"hadoop": "3.9.9"}, "versions.hadoop: version '3.9.9' does not exist"),
        ({"spark": "4.9.0"}, "versions.spark: version '4.9.0' does not exist"),
        ({"python": "2.7"}, "versions.python: version '2.7' does not exist"),
    ],
)
def test_versions_that_do_not_exist(versions, expected):
    msg = _err(aws_spec(versions=versions))
    assert expected in msg and "use one of" in msg


def test_emr_release_rules():
    emr = aws_spec()
    emr["provider"] = "emr"
    assert "versions.emr_release: provider emr needs a release label" in _err(emr)
    bad = copy.deepcopy(emr) | {"versions": {"emr_release": "emr-9.0.0"}}
    assert "versions.emr_release: version 'emr-9.0.0' does not exist" in _err(bad)
    mismatch = copy.deepcopy(emr) | {"versions": {"emr_release": "emr-7.13.0", "spark": "4.0.1"}}
    assert "versions.spark: emr-7.13.0 ships Spark 3.5.6" in _err(mismatch)
    ok = parse_spec(copy.deepcopy(emr) | {"versions": {"emr_release": "emr-7.13.0"}})
    assert ok.spark_version == "3.5.6"
    assert "only provider emr takes a release label" in _err(aws_spec(versions={"emr_release": "emr-7.13.0"}))


def test_a_warm_driver_is_local_only():
    assert parse_spec(local_spec(spark={"warm_driver": True})).spark.warm_driver
    assert not parse_spec(local_spec()).spark.warm_driver
    assert "spark.warm_driver: provider ec2 has no warm driver in this release" in _err(
        aws_spec(spark={"warm_driver": True})
    )


def test_local_and_aws_node_rules():
    assert "node_groups.master.instance_type: provider local takes 'local'" in _err(
        local_spec() | {"node_groups": aws_spec()["node_groups"]}
    )
    no_cores = local_spec()
    del no_cores["node_groups"]["core"]["cores"]
    assert "node_groups.core: instance_type local needs cores and memory_gib" in _err(no_cores)
    spot = local_spec()
    spot["node_groups"]["core"]["market"] = "spot"
    assert "node_groups.core.market: spot needs provider ec2 or emr" in _err(spot)
    local_on_aws = aws_spec(core="local")
    assert "node_groups.core.instance_type: 'local' needs provider local" in _err(local_on_aws)
    assert "local: port settings apply to provider local only" in _err(aws_spec(local={"master_port": 7000}))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"name": "My_Cluster"}, "name: 'My_Cluster' is not a valid cluster name"),
        ({"region": "eu-west-9"}, "region: unknown AWS region 'eu-west-9'; did you mean eu-west-3?"),
        ({"storage": {"bucket": "Bad_Bucket"}}, "storage.bucket: 'Bad_Bucket' is not a valid S3 bucket name"),
        ({"storage": {"prefix": "/abs"}}, "storage.prefix: '/abs': a key prefix has no leading '/'"),
        ({"tags": {"aws:owner": "x"}}, "tags: tag key 'aws:owner'"),
        (
            {"overrides": {"spark": {"executor.cores": 2}}},
            "overrides.spark: key 'executor.cores' must start with 'spark.'",
        ),
        ({"overrides": {"yarn": {"spark.x": 1}}}, "overrides.yarn: key 'spark.x' must start with 'yarn.'"),
        ({"idle_timeout_minutes": -5}, "idle_timeout_minutes: input should be greater than or equal to 0"),
        ({"provider": "gcp"}, "provider: input should be 'local', 'ec2', 'emr' or 'ssh' (got 'gcp')"),
        (
            {"node_env": {"lock": "/no/such.lock"}},
            "node_env.lock: /no/such.lock: no such lock file; make one with `clusterctl nodeenv lock --out",
        ),
        ({"node_env": {"index_url": "pypi.org/simple"}}, "node_env.index_url: 'pypi.org/simple' is not a URL"),
        (
            {"node_env": {"wheelhouse_url": "http://mirror/wh"}},
            "node_env.wheelhouse_url: provider ec2's nodes read the cluster's bucket; remove it",
        ),
    ],
)
def test_other_fields(extra, expected):
    assert expected in _err(aws_spec(**extra))


def test_local_ports_must_differ():
    assert "local: master_port, webui_port must all differ" in _err(
        local_spec(local={"master_port": 9000, "webui_port": 9000})
    )
    with_hdfs = local_spec(local={"master_port": 7100, "webui_port": 8100, "hdfs": True, "namenode_port": 7100})
    assert "local: master_port, webui_port, namenode_port must all differ" in _err(with_hdfs)
    assert parse_spec(local_spec(local={"hdfs": True, "namenode_port": 9100})).local.hdfs


def test_yaml_problems(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError, match="no such spec file; create one with `clusterctl init`"):
        load_spec(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nnode_groups: [\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_spec(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(SpecError, match="expected a mapping of settings at the top level"):
        load_spec(scalar)


def test_cli_spec_error_is_one_line_exit_2(tmp_path):
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(aws_spec(core="m5.huge")))
    for command in ("render", "explain", "up", "down"):
        proc = run_cli(command, cwd=tmp_path)
        assert proc.returncode == 2, (command, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, proc.stderr
        assert "node_groups.core.instance_type: unknown instance type 'm5.huge'" in lines[0]
    assert not (tmp_path / ".clusterctl").exists()  # nothing half-created


def test_init_writes_valid_commented_specs(tmp_path):
    for provider in ("local", "ec2", "emr"):
        out = tmp_path / f"{provider}.yaml"
        proc = run_cli("init", "--provider", provider, "-o", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        assert "# " in text
        spec = load_spec(out)
        assert spec.provider == provider
    again = run_cli("init", "--local", "-o", str(tmp_path / "local.yaml"), cwd=tmp_path)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr


def test_node_env_is_for_providers_with_nodes():
    assert "node_env: provider local runs this machine's Python" in _err(local_spec(node_env={"find_links": ["/w"]}))
    spec = parse_spec(aws_spec())
    assert spec.node_env.extra_index_urls == ["https://download.pytorch.org/whl/cpu"] and spec.node_env.lock is None
