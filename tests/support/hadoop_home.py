"""A fixture HADOOP_HOME (Hadoop 2.7.3 HDFS) built from the jars that the pyspark 2.4.8 sdist carries.

The sdist (``pyspark-2.4.8.tar.gz`` on PyPI) ships ``deps/jars/`` with Hadoop 2.7.3's full HDFS server
(``hadoop-hdfs-2.7.3.jar``) and its dependencies. They are laid out as a real Apache Hadoop distribution
is, so the product code needs no test-only branch::

    share/hadoop/common/hadoop-{common,auth,annotations}-2.7.3.jar
    share/hadoop/common/lib/*.jar          the dependencies Hadoop 2.7.3's common/lib and hdfs/lib hold
    share/hadoop/hdfs/hadoop-hdfs-2.7.3.jar
    share/hadoop/hdfs/webapps/{hdfs,datanode,static}/   empty: the daemons' HTTP servers only need them to exist
    etc/hadoop/

Nothing is downloaded here: the sdist must already be in the cache (``.ci/run`` fetches it).
"""

import fnmatch
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("CLUSTERCTL_TEST_CACHE", Path.home() / ".cache" / "clusterctl-tests"))
SDIST_GLOB = "pyspark-2.4.8*.tar.gz"
HOME_NAME = "hadoop-2.7.3-from-pyspark-2.4.8"
FETCH = "pip download pyspark==2.4.8 --no-deps --no-binary :all: -d ~/.cache/clusterctl-tests"
HADOOP_VERSION = "2.7.3"
LAYOUT = "2"  # bump when the jars chosen or their places change: cached homes of another layout are rebuilt

# Hadoop's own jars, by the folder of a distribution they live in.
OWN_JARS = {
    "hadoop-common": "common",
    "hadoop-auth": "common",
    "hadoop-annotations": "common",
    "hadoop-hdfs": "hdfs",
}
# What Hadoop 2.7.3's share/hadoop/{common,hdfs}/lib hold, as far as the sdist has it. Stand-ins:
# javax.servlet-api 3.1 for servlet-api 2.5; javax.ws.rs-api 2.0 for the JAX-RS classes of jersey-core 1.9
# (the NameNode's RPC server calls a static of its WebHDFS class on every create). jersey 1 itself is
# absent, which is why WebHDFS stays off.
DEPENDENCIES = frozenset(
    """
    activation apacheds-i18n apacheds-kerberos-codec api-asn1-api api-util avro commons-beanutils commons-cli
    commons-codec commons-collections commons-compress commons-configuration commons-digester commons-httpclient
    commons-io commons-lang commons-logging commons-math3 commons-net curator-client curator-framework
    curator-recipes gson guava htrace-core httpclient httpcore jackson-core-asl jackson-jaxrs jackson-mapper-asl
    jackson-xc javax.servlet-api javax.ws.rs-api jaxb-api jetty jetty-util jsp-api jsr305 leveldbjni-all log4j
    netty netty-all paranamer protobuf-java slf4j-api slf4j-log4j12 snappy-java stax-api xercesImpl xmlenc xz
    zookeeper
    """.split()  # noqa: SIM905  (a word list reads better than 52 quoted lines)
)
WEBAPPS = ("hdfs", "datanode", "static")


def _artifact(jar_name: str) -> str:
    """``jackson-core-asl-1.9.13.jar`` -> ``jackson-core-asl``."""
    return re.split(r"-\d", jar_name.removesuffix(".jar"), maxsplit=1)[0]


def _stamp(sdist: Path) -> str:
    return f"layout {LAYOUT} from {sdist.name} ({sdist.stat().st_size} bytes)\n"


def find_sdist(cache: Path = CACHE) -> Path | None:
    """The pyspark 2.4.8 sdist in ``cache``, or None."""
    found = sorted(cache.glob(SDIST_GLOB)) if cache.is_dir() else []
    return found[0] if found else None


def build_hadoop_home(sdist: Path, dest: Path) -> Path:
    """Lay the sdist's Hadoop jars out as a Hadoop distribution at ``dest`` (built aside, then renamed)."""
    work = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    common, hdfs = work / "share" / "hadoop" / "common", work / "share" / "hadoop" / "hdfs"
    for folder in (common / "lib", hdfs / "lib", work / "etc" / "hadoop", *(hdfs / "webapps" / w for w in WEBAPPS)):
        folder.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 4 or parts[1:3] != ["deps", "jars"]:
                continue
            name, artifact = parts[3], _artifact(parts[3])
            if artifact in OWN_JARS and name.endswith(f"-{HADOOP_VERSION}.jar"):
                target = work / "share" / "hadoop" / OWN_JARS[artifact] / name
            elif artifact in DEPENDENCIES:
                target = common / "lib" / name
            else:
                continue
            source = tar.extractfile(member)
            assert source is not None
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
    missing = [a for a in OWN_JARS if not fnmatch.filter(os.listdir(work / "share" / "hadoop" / OWN_JARS[a]), f"{a}-*")]
    if missing:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"{sdist}: deps/jars has no {', '.join(missing)} {HADOOP_VERSION} jar")
    (work / "etc" / "hadoop" / "README").write_text(f"built by tests/support/hadoop_home.py from {sdist.name}\n")
    (work / ".complete").write_text(_stamp(sdist))
    try:
        work.rename(dest)
    except OSError:  # another test process finished first
        shutil.rmtree(work, ignore_errors=True)
    return dest


def fixture_hadoop_home(cache: Path = CACHE) -> Path:
    """The fixture HADOOP_HOME (built once into the cache), or skip the test saying how to fetch the sdist."""
    dest = cache / HOME_NAME
    sdist = find_sdist(cache)
    stamp = dest / ".complete"
    if stamp.exists() and (sdist is None or stamp.read_text() == _stamp(sdist)):
        return dest
    if sdist is None:
        pytest.skip(f"Hadoop 2.7.3 jars not cached: no {cache / SDIST_GLOB}: run `{FETCH}` (.ci/run does)")
    shutil.rmtree(dest, ignore_errors=True)  # half-built, or of another layout or sdist
    return build_hadoop_home(sdist, dest)
