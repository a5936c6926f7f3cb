"""Find Java 17+ and pyspark's Spark distribution (the local provider's and the tests' runtime)."""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from clusterctl.errors import ClusterctlError

MIN_JAVA = 17


@dataclass(frozen=True)
class Runtime:
    """A usable Java and Spark installation."""

    java: Path
    java_home: Path
    java_major: int
    spark_home: Path
    spark_version: str

    @property
    def spark_class(self) -> Path:
        """``bin/spark-class`` of the pyspark distribution."""
        return self.spark_home / "bin" / "spark-class"

    @property
    def spark_submit(self) -> Path:
        """``bin/spark-submit`` of the pyspark distribution."""
        return self.spark_home / "bin" / "spark-submit"


def _find_java() -> Path:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return Path(home) / "bin" / "java"
    found = shutil.which("java")
    if not found:
        raise ClusterctlError(
            f"Java {MIN_JAVA}+ not found: install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return Path(found).resolve()


def _java_major(java: Path) -> int:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise ClusterctlError(f"{java}: could not read its version; set JAVA_HOME to a Java {MIN_JAVA}+ install")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


@cache
def find_runtime() -> Runtime:
    """Locate Java (>= 17) and pyspark; raise ClusterctlError with the fix when either is missing."""
    java = _find_java()
    major = _java_major(java)
    if major < MIN_JAVA:
        raise ClusterctlError(
            f"{java} is Java {major}; Spark 4 needs Java {MIN_JAVA}+: install openjdk-17-jre-headless "
            "or point JAVA_HOME at one"
        )
    try:
        import pyspark
    except ImportError:
        raise ClusterctlError("pyspark is not installed: pip install 'clusterctl[workloads]'") from None
    return Runtime(
        java=java,
        java_home=java.parent.parent,
        java_major=major,
        spark_home=Path(pyspark.__file__).resolve().parent,
        spark_version=pyspark.__version__,
    )
