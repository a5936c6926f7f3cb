"""Rendered files: parse every XML back, check key properties, determinism, overrides, Hadoop's own check."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from clusterctl.config.render import render_files
from clusterctl.config.spec import parse_spec
from clusterctl.providers import get_provider
from clusterctl.providers.aws.emr_config import bootstrap_script
from clusterctl.workdir import Workdir
from tests.conftest import CONF_CHECK, REPO, aws_spec, local_spec, render_spec, run_cli

SITE_FILES = ("core-site.xml", "hdfs-site.xml", "yarn-site.xml", "mapred-site.xml")


def xml_props(path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    assert root.tag == "configuration"
    props = {}
    for prop in root.findall("property"):
        name, value = prop.findtext("name"), prop.findtext("value")
        assert name and value is not None and name not in props
        props[name] = value
    return props


def spark_props(path) -> dict[str, str]:
    props = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split(" ", 1)
            props[key] = value
    return props


@pytest.fixture
def ec2_conf(tmp_path):
    data = aws_spec(core="m5.2xlarge", count=3)
    data["node_groups"]["task"] = {"instance_type": "m5.xlarge", "count": 2, "market": "spot"}
    data["overrides"] = {"spark": {"spark.sql.shuffle.partitions": 200}, "hdfs": {"dfs.blocksize": 268435456}}
    wd = Workdir(tmp_path / "wd")
    render_spec(parse_spec(data), wd)
    return wd.conf


def test_rendered_xml_parses_with_key_properties(ec2_conf):
    core, hdfs = xml_props(ec2_conf / "core-site.xml"), xml_props(ec2_conf / "hdfs-site.xml")
    yarn, mapred = xml_props(ec2_conf / "yarn-site.xml"), xml_props(ec2_conf / "mapred-site.xml")
    assert core["fs.defaultFS"] == "hdfs://master:8020"
    assert core["fs.s3a.aws.credentials.provider"].endswith("IAMInstanceCredentialsProvider")
    assert hdfs["dfs.replication"] == "3" and hdfs["dfs.blocksize"] == "268435456"  # override wins
    assert yarn["yarn.nodemanager.resource.memory-mb"] == "24576"
    assert yarn["yarn.nodemanager.resource.cpu-vcores"] == "8"
    assert yarn["yarn.scheduler.maximum-allocation-mb"] == "24576"
    assert yarn["yarn.scheduler.minimum-allocation-mb"] == "32"
    assert yarn["yarn.resourcemanager.hostname"] == "master"
    assert mapred["mapreduce.framework.name"] == "yarn"
    assert mapred["mapreduce.map.memory.mb"] == "3072"  # EMR's m5.2xlarge task configuration
    task = xml_props(ec2_conf / "yarn-site.task.xml")
    assert task["yarn.nodemanager.resource.memory-mb"] == "12288"  # task nodes are m5.xlarge
    assert (ec2_conf / "workers").read_text().split() == ["core-1", "core-2", "core-3", "task-1", "task-2"]


def test_spark_defaults_content(ec2_conf):
    spark = spark_props(ec2_conf / "spark-defaults.conf")
    assert spark["spark.master"] == "yarn"
    assert spark["spark.executor.cores"] == "4"
    # 3 core nodes x 2 + 2 task nodes x 1 (m5.xlarge: 4 vCPU, 12288 MiB)
    assert spark["spark.executor.instances"] == "8"
    assert spark["spark.executor.memory"] == "7808m"
    assert spark["spark.executor.memoryOverhead"] == "4480m"
    assert spark["spark.default.parallelism"] == "64"
    assert spark["spark.sql.shuffle.partitions"] == "200"  # override wins
    assert "spark.executor.pyspark.memory" not in spark
    assert spark["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
    text = (ec2_conf / "spark-defaults.conf").read_text()
    assert "# override: overrides.spark in the spec (clusterctl would set 64)" in text


def test_local_render(tmp_path):
    wd = Workdir(tmp_path / "wd")
    render_spec(parse_spec(local_spec(local={"master_port": 7100, "webui_port": 8100})), wd)
    spark = spark_props(wd.conf / "spark-defaults.conf")
    assert spark["spark.master"] == "spark://127.0.0.1:7100"
    assert spark["spark.pyspark.python"] == sys.executable
    assert xml_props(wd.conf / "core-site.xml")["fs.defaultFS"] == "file:///"
    env = (wd.conf / "spark-env.sh").read_text()
    assert "export SPARK_LOCAL_IP=127.0.0.1" in env and "export SPARK_WORKER_MEMORY=2048m" in env
    assert f"export SPARK_LOCAL_DIRS={wd.root}/tmp/spark" in env
    assert (wd.conf / "workers").read_text() == "127.0.0.1\n127.0.0.1\n"
    syntax = subprocess.run(["bash", "-n", str(wd.conf / "spark-env.sh")], capture_output=True, check=False)
    assert syntax.returncode == 0


def test_fast_jvm_start_off_removes_c1_flags(tmp_path):
    wd = Workdir(tmp_path / "wd")
    render_spec(parse_spec(local_spec(tuning={"fast_jvm_start": False, "python_bound_executors": False})), wd)
    assert "TieredStopAtLevel" not in (wd.conf / "spark-defaults.conf").read_text()
    assert "TieredStopAtLevel" not in (wd.conf / "spark-env.sh").read_text()


def test_image_workload_executor_tuning(tmp_path):
    """Executors: C1 + serial GC via defaultJavaOptions (users' extraJavaOptions stay theirs), heap-only
    malloc and one BLAS/OpenMP thread per task core."""
    wd = Workdir(tmp_path / "wd")
    render_spec(parse_spec(local_spec()), wd)
    spark = spark_props(wd.conf / "spark-defaults.conf")
    assert spark["spark.executor.defaultJavaOptions"] == "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    assert "spark.executor.extraJavaOptions" not in spark
    assert spark["spark.executorEnv.MALLOC_MMAP_MAX_"] == "0"
    assert int(spark["spark.executorEnv.MALLOC_TRIM_THRESHOLD_"]) >= 2**32
    assert spark["spark.executorEnv.OMP_NUM_THREADS"] == spark["spark.executorEnv.OPENBLAS_NUM_THREADS"] == "1"
    render_spec(parse_spec(local_spec(tuning={"python_bound_executors": False})), wd)
    assert "spark.executor.defaultJavaOptions" not in spark_props(wd.conf / "spark-defaults.conf")


def test_render_is_deterministic_and_self_contained(tmp_path):
    spec = parse_spec(aws_spec(count=4))
    wd = Workdir(tmp_path / "wd")
    first = {p: p.read_bytes() for p in render_spec(spec, wd).files}
    again = {p: p.read_bytes() for p in render_spec(parse_spec(aws_spec(count=4)), wd).files}
    assert first == again
    _, _, contents = render_files(get_provider(spec, wd))
    assert {str(wd.root / k) for k in contents} == {str(p) for p in first}
    assert f"{wd.root}/terraform/main.tf.json" in {str(p) for p in first}
    modules = {k.split("/")[2] for k in contents if k.startswith("terraform/modules/")}
    assert modules == {"network", "storage", "node-iam", "ec2-cluster"}  # what main.tf.json calls, no more
    for rel, content in contents.items():
        if rel.startswith("terraform/modules/"):
            assert content == (REPO / "infra" / rel.removeprefix("terraform/")).read_text()


def test_render_removes_files_the_previous_render_wrote_and_this_one_does_not(tmp_path):
    wd = Workdir(tmp_path / "wd")
    mixed = aws_spec(core="m5.2xlarge")
    mixed["node_groups"]["task"] = {"instance_type": "m5.xlarge", "count": 1}
    render_spec(parse_spec(mixed), wd)
    assert (wd.conf / "yarn-site.task.xml").is_file()  # task nodes differ from core nodes
    render_spec(parse_spec(aws_spec(core="m5.2xlarge")), wd)
    assert not (wd.conf / "yarn-site.task.xml").exists()
    assert (wd.conf / "yarn-site.xml").is_file()


def test_values_are_xml_escaped(tmp_path):
    data = aws_spec(overrides={"core": {"x.odd": "a<b&c"}})
    wd = Workdir(tmp_path / "wd")
    render_spec(parse_spec(data), wd)
    assert xml_props(wd.conf / "core-site.xml")["x.odd"] == "a<b&c"


def test_cli_render_and_explain(tmp_path):
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(aws_spec(count=2)))
    proc = run_cli("render", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert {p.rsplit("/", 1)[1] for p in files} >= {*SITE_FILES, "spark-defaults.conf", "spark-env.sh", "workers"}
    proc = run_cli("explain", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    explained = json.loads(proc.stdout)
    for fname in (*SITE_FILES, "spark-defaults.conf", "spark-env.sh"):
        rendered = (tmp_path / ".clusterctl" / "tc" / "conf" / fname).read_text()
        for item in explained["files"][fname]:
            assert item["rule"] and item["origin"] in {"fixed", "computed", "override"}
            assert item["value"] in rendered.replace("&lt;", "<")
    human = run_cli("explain", "--file", "yarn-site.xml", cwd=tmp_path)
    assert "yarn.nodemanager.resource.memory-mb" in human.stdout and "EMR default for m5.xlarge" in human.stdout
    bad = run_cli("explain", "--file", "nope.xml", cwd=tmp_path)
    assert bad.returncode == 2 and "--file nope.xml: not a rendered file" in bad.stderr


needs_checker = pytest.mark.skipif(
    not CONF_CHECK.exists() or not shutil.which("java"),
    reason="hadoop-conf-check.py (../shared/tools) or java not available",
)


@needs_checker
@pytest.mark.parametrize(
    "data",
    [
        aws_spec(core="m4.large", master="m4.large", count=1),
        aws_spec(core="m5.xlarge", count=2),
        aws_spec(core="m5.24xlarge", master="m5.4xlarge", count=10),
        aws_spec(core="m4.10xlarge", count=3, overrides={"yarn": {"yarn.scheduler.maximum-allocation-mb": 65536}}),
        local_spec(workers=2),
        aws_spec(
            provider="ssh",
            spark={"manager": "standalone"},
            ssh={"master": "192.0.2.10", "core": ["192.0.2.11", "192.0.2.12"]},
        ),
    ],
    ids=["m4.large", "m5.xlarge", "m5.24xlarge", "m4.10xlarge-override", "local", "ssh-standalone"],
)
def test_hadoop_and_spark_accept_rendered_config(tmp_path, data):
    wd = Workdir(tmp_path / "wd")
    render_spec(parse_spec(data), wd)
    proc = subprocess.run(
        [sys.executable, str(CONF_CHECK), str(wd.conf), "--spark-defaults", str(wd.conf / "spark-defaults.conf")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"], report["errors"]
    for name in SITE_FILES:
        assert report["files"][name]["status"] == "ok"
        assert report["files"][name]["dropped_properties"] == []
    assert report["spark_defaults"]["validate_settings"] == "ok"
    checks = report["cross_checks"]
    assert checks and all(c["severity"] == "ok" for c in checks), checks
    yarn = xml_props(wd.conf / "yarn-site.xml")
    assert report["resolved"]["yarn.nodemanager.resource.memory-mb"]["typed"] == int(
        yarn["yarn.nodemanager.resource.memory-mb"]
    )


def test_emr_bootstrap_installs_the_locked_wheelhouse_into_a_venv_of_the_driver_python(tmp_path):
    spec = parse_spec(aws_spec(provider="emr", versions={"emr_release": "emr-7.13.0"}))
    script = bootstrap_script(spec)
    lines = script.splitlines()
    # EMR 7's python3 is 3.9: the packages go into a venv of the driver's version, checked before any install
    assert "sudo python3.11 -m venv /opt/clusterctl/venv" in lines and "python3 -m pip" not in script
    check = next(i for i, ln in enumerate(lines) if "sys.version_info[:2] == (3, 11)" in ln)
    fetch = next(i for i, ln in enumerate(lines) if ln.startswith("sudo aws s3 cp --recursive"))
    assert '"$wheelhouse_uri"' in lines[fetch] and '--exclude "pyspark-*"' in lines[fetch]
    install = lines[-1].split()
    assert install[:2] == ["sudo", "/opt/clusterctl/venv/bin/python"] and check < fetch < len(lines) - 1
    assert {"--no-index", "--require-hashes"} <= set(install)
    assert install[install.index("-r") + 1] == "$wheelhouse/nodes-emr.lock"
    assert "--index-url" not in script and "pyspark==" not in script  # nothing from an index; EMR brings Spark
    (tmp_path / "b.sh").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "b.sh")], check=False).returncode == 0


def test_the_workdir_gets_the_lock_and_emr_a_lock_without_pyspark(tmp_path):
    from clusterctl.nodeenv.lock import read_lock
    from clusterctl.nodeenv.requirements import DEFAULT_LOCK

    shipped = read_lock(DEFAULT_LOCK)
    emr = Workdir(tmp_path / "emr")
    render_spec(parse_spec(aws_spec(provider="emr", versions={"emr_release": "emr-7.13.0"})), emr)
    ec2 = Workdir(tmp_path / "ec2")
    render_spec(parse_spec(aws_spec(versions={"spark": shipped.entry("pyspark").version})), ec2)
    assert read_lock(ec2.root / "nodeenv" / "nodes.lock").hash == shipped.hash
    assert not (ec2.root / "nodeenv" / "nodes-emr.lock").exists()
    derived = read_lock(emr.root / "nodeenv" / "nodes-emr.lock")
    assert derived.entry("pyspark") is None and derived.entry("py4j") is not None
    assert {e.name for e in derived.entries} == {e.name for e in shipped.entries} - {"pyspark"}
    args = json.loads((emr.root / "terraform" / "main.tf.json").read_text())["module"]["cluster"]["bootstrap_args"]
    assert args == [f"s3://${{module.storage.bucket_name}}/clusterctl/tc/nodeenv/{shipped.hash}/"]
    # a Spark version the lock does not pin is caught before anything is created
    proc = run_cli("render", "-f", str(_spec_file(tmp_path, aws_spec(versions={"spark": "4.1.0"}))), cwd=tmp_path)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "node_env.lock" in last and "clusterctl nodeenv lock --spark 4.1.0" in last


def _spec_file(tmp_path, data) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_emr_configurations_point_pyspark_at_the_venv_and_size_a_different_task_type(tmp_path):
    def configs(task_type):
        data = aws_spec(provider="emr", versions={"emr_release": "emr-7.13.0"})
        data["node_groups"]["task"] = {"instance_type": task_type, "count": 2, "market": "spot"}
        wd = Workdir(tmp_path / task_type)
        render_spec(parse_spec(data), wd)
        cluster = json.loads((wd.root / "terraform" / "main.tf.json").read_text())["module"]["cluster"]
        task = cluster["task_configurations_json"]
        return json.loads(cluster["configurations_json"]), json.loads(task) if task else None

    cluster, task = configs(aws_spec()["node_groups"]["core"]["instance_type"])
    assert task is None  # same type as core: the cluster's sizing fits
    env = next(c for c in cluster if c["Classification"] == "spark-env")
    assert env["Configurations"] == [
        {
            "Classification": "export",
            "Properties": {
                "PYSPARK_PYTHON": "/opt/clusterctl/venv/bin/python",
                "PYSPARK_DRIVER_PYTHON": "/opt/clusterctl/venv/bin/python",
            },
        }
    ]
    spark = next(c for c in cluster if c["Classification"] == "spark-defaults")["Properties"]
    assert spark["spark.pyspark.python"] == "/opt/clusterctl/venv/bin/python" and "spark.master" not in spark
    cluster, task = configs("m5.4xlarge")
    core_yarn = next(c for c in cluster if c["Classification"] == "yarn-site")["Properties"]
    assert task is not None and [c["Classification"] for c in task] == ["yarn-site"]
    key = "yarn.nodemanager.resource.memory-mb"
    assert int(task[0]["Properties"][key]) > int(core_yarn[key])
    assert task[0]["Properties"]["yarn.nodemanager.resource.cpu-vcores"] == "16"
