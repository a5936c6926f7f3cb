"""Autostop: the agent that ends an EC2 cluster by itself, from its master, with no laptop online.

It runs ON THE MASTER as the clusterctl daemon ``autostop`` (ansible role ``daemons``): every ``poll_s``
seconds it asks the cluster manager how many applications are running or waiting, and when the cluster
has been idle for ``idle_timeout_s`` or has lived ``max_lifetime_s`` (counted from the master's launch,
busy or not) it terminates the cluster's instances through the EC2 API: the workers first, then, once
EC2 has them shutting down, the master, i.e. itself. ``clusterctl down`` afterwards removes the rest.

Its configuration is a JSON file the bootstrap writes (``clusterctl_autostop`` in
``ansible/group_vars/all.yml``)::

    {"cluster": "demo", "region": "eu-west-3", "idle_timeout_s": 3600, "max_lifetime_s": 28800,
     "manager": "yarn", "manager_url": "http://master:8088", "poll_s": 60}

It logs one line per check to stdout, which the daemon's service manager appends to
``/var/log/clusterctl/autostop.log``.

This file is copied alone to the master and run there with the nodes' venv Python, where clusterctl is
not installed: it must import nothing from clusterctl, only the standard library and boto3.
"""

import argparse
import http.client
import json
import logging
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("clusterctl.autostop")

# Mirrors of clusterctl.providers.aws.client, which this file cannot import.
CLUSTER_TAG = "clusterctl:cluster"
ENDPOINT_ENV = "CLUSTERCTL_AWS_ENDPOINT"  # tests point the EC2 client at a moto server

DEFAULT_CONFIG = "/opt/clusterctl/autostop.json"
IMDS_URL = "http://169.254.169.254"
YARN_ACTIVE_STATES = "NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING"
LIVE_STATES = ("pending", "running", "stopping", "stopped")  # what still costs (or may again)
GONE_STATES = frozenset({"shutting-down", "terminated"})
WORKERS_GONE_TIMEOUT_S = 600.0

KEEP, STOP_IDLE, STOP_LIFETIME = "keep", "stop-idle", "stop-lifetime"

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Probe = Callable[[str, str], int | None]


@dataclass(frozen=True)
class Config:
    """What the agent watches and when it stops the cluster (one JSON object, written by the bootstrap)."""

    cluster: str  # the value of the instances' clusterctl:cluster tag
    region: str
    idle_timeout_s: int  # 0: never stop for idleness
    max_lifetime_s: int | None  # None: no hard limit
    manager: str  # yarn | standalone
    manager_url: str  # the ResourceManager's (yarn) or Spark master's (standalone) web address
    poll_s: float = 60.0

    @property
    def enabled(self) -> bool:
        """False when there is nothing to enforce: no idle timeout and no lifetime."""
        return self.idle_timeout_s > 0 or self.max_lifetime_s is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Validate the configuration; ValueError names the bad key."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
        try:
            config = cls(**data)
        except TypeError as exc:  # a required key is missing
            raise ValueError(str(exc)) from None
        seconds: dict[str, Any] = {"idle_timeout_s": config.idle_timeout_s, "poll_s": config.poll_s}
        if config.max_lifetime_s is not None:
            seconds["max_lifetime_s"] = config.max_lifetime_s
        wrong = [k for k, v in seconds.items() if isinstance(v, bool) or not isinstance(v, int | float)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: a number of seconds")
        if config.manager not in ("yarn", "standalone"):
            raise ValueError(f"manager {config.manager!r}: yarn or standalone")
        if config.idle_timeout_s < 0 or (config.max_lifetime_s is not None and config.max_lifetime_s <= 0):
            raise ValueError("idle_timeout_s must be >= 0 and max_lifetime_s > 0 or null")
        if config.poll_s <= 0:
            raise ValueError("poll_s must be > 0")
        return config

    @classmethod
    def load(cls, path: Path) -> "Config":
        """Read the JSON file at ``path``."""
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None


# -- is the cluster busy? ----------------------------------------------------------------------------------


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def active_apps(manager: str, manager_url: str, timeout: float = 10.0) -> int | None:
    """How many applications the cluster manager has running or about to run; None when it cannot say.

    YARN: the ResourceManager's applications in NEW ... RUNNING. Standalone: the Spark master's active
    applications and drivers. An unreachable manager, an error or an unexpected answer is None.
    """
    base = manager_url.rstrip("/")
    try:
        if manager == "yarn":
            doc = _get_json(f"{base}/ws/v1/cluster/apps?states={YARN_ACTIVE_STATES}", timeout)
            if not isinstance(doc, dict) or "apps" not in doc:
                return None
            apps = doc["apps"] or {}  # YARN answers {"apps": null} when there are none
            return len(apps.get("app") or []) if isinstance(apps, dict) else None
        doc = _get_json(f"{base}/json/", timeout)
        if not isinstance(doc, dict) or "activeapps" not in doc:
            return None
        return len(doc["activeapps"] or []) + len(doc.get("activedrivers") or [])
    except (OSError, ValueError, http.client.HTTPException):  # URLError and timeouts are OSErrors
        return None


# -- should it stop? ----------------------------------------------------------------------------------------


def decide(
    now: float, started_at: float, last_active_at: float, idle_timeout_s: int, max_lifetime_s: int | None
) -> str:
    """``stop-lifetime`` once the cluster has lived ``max_lifetime_s`` (busy or not), else ``stop-idle`` once
    it has been idle ``idle_timeout_s`` (0: never), else ``keep``. Times in seconds since the epoch."""
    if max_lifetime_s is not None and now - started_at >= max_lifetime_s:
        return STOP_LIFETIME
    if idle_timeout_s > 0 and now - last_active_at >= idle_timeout_s:
        return STOP_IDLE
    return KEEP


# -- stopping it ------------------------------------------------------------------------------------------


def cluster_instances(ec2: Any, cluster: str) -> dict[str, str]:
    """The cluster's instances that are not (being) terminated: id -> state."""
    found: dict[str, str] = {}
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                found[inst["InstanceId"]] = inst["State"]["Name"]
    return found


def _states(ec2: Any, ids: list[str]) -> dict[str, str]:
    return {
        inst["InstanceId"]: inst["State"]["Name"]
        for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for inst in reservation["Instances"]
    }


def terminate_cluster(
    ec2: Any,
    cluster: str,
    master_id: str,
    wait_s: float = WORKERS_GONE_TIMEOUT_S,
    poll_s: float = 5.0,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> list[list[str]]:
    """Terminate the cluster's workers, wait until EC2 has them shutting down, then terminate the master.

    The master goes last because this agent runs on it: once it is gone nothing would end the workers.
    If the workers are not going within ``wait_s`` the master is left running (TimeoutError), so the
    next check tries again instead of orphaning them. Returns the instance ids of each terminate call,
    in order.
    """
    workers = sorted(i for i in cluster_instances(ec2, cluster) if i != master_id)
    calls: list[list[str]] = []
    if workers:
        LOG.info("terminating the workers: %s", " ".join(workers))
        ec2.terminate_instances(InstanceIds=workers)
        calls.append(workers)
        deadline = clock() + wait_s
        while True:
            left = {i: s for i, s in _states(ec2, workers).items() if s not in GONE_STATES}
            if not left:
                break
            if clock() >= deadline:
                raise TimeoutError(f"workers not shutting down after {wait_s:.0f} s: {left}")
            sleep(poll_s)
    LOG.info("terminating the master %s (this node)", master_id)
    ec2.terminate_instances(InstanceIds=[master_id])
    calls.append([master_id])
    return calls


# -- the agent ----------------------------------------------------------------------------------------------


class Agent:
    """The check loop: probe, decide, and terminate the cluster when it is time.

    The idle clock starts when the agent starts, so a restarted agent (a bootstrap re-run, a reboot)
    waits a whole ``idle_timeout_s`` again: it may stop a cluster later than due, never sooner. The
    lifetime counts from ``started_at``, the master's launch, which no restart resets.
    """

    def __init__(
        self,
        config: Config,
        ec2: Any,
        master_id: str,
        started_at: float,
        clock: Clock = time.time,
        probe: Probe = active_apps,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.config = config
        self.ec2 = ec2
        self.master_id = master_id
        self.started_at = started_at
        self.clock = clock
        self.probe = probe
        self.sleep = sleep
        self.last_active_at = clock()

    def check(self) -> str:
        """One check: ask the manager, decide, and terminate the cluster if the decision says so."""
        config = self.config
        now = self.clock()
        apps = self.probe(config.manager, config.manager_url)
        if apps is None:
            # Busy-unknown, not idle: the manager also fails to answer while it restarts or is swamped by
            # a large job, and terminating then would kill that job and the cluster's HDFS data. A dead
            # manager still ends with the cluster at max_lifetime (and the clusterctl:ttl tag for sweep).
            self.last_active_at = now
            activity = f"{config.manager} manager at {config.manager_url} not answering: counted as busy"
        else:
            if apps:
                self.last_active_at = now
            activity = f"{apps} active application(s)"
        idle = now - self.last_active_at
        lived = now - self.started_at
        decision = decide(now, self.started_at, self.last_active_at, config.idle_timeout_s, config.max_lifetime_s)
        LOG.info(
            "%s; idle %.0f/%s s; lived %.0f/%s s: %s",
            activity,
            idle,
            config.idle_timeout_s or "off",
            lived,
            config.max_lifetime_s or "off",
            decision,
        )
        if decision != KEEP:
            terminate_cluster(self.ec2, config.cluster, self.master_id, clock=self.clock, sleep=self.sleep)
        return decision

    def run(self) -> str:
        """Check every ``poll_s`` seconds until the cluster is terminated; the decision that stopped it.

        A failed check (EC2 refusing or unreachable, workers slow to go) is logged and retried at the
        next poll: the agent must not die, since a restart would reset the idle clock.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        while True:
            try:
                decision = self.check()
            except (BotoCoreError, ClientError, TimeoutError) as exc:
                LOG.error("check failed, retrying in %.0f s: %s: %s", self.config.poll_s, type(exc).__name__, exc)
            else:
                if decision != KEEP:
                    return decision
            self.sleep(self.config.poll_s)


def ec2_client(region: str) -> Any:
    """An EC2 client with the instance profile's credentials (``CLUSTERCTL_AWS_ENDPOINT`` overrides the endpoint)."""
    import boto3

    return boto3.session.Session(region_name=region).client("ec2", endpoint_url=os.environ.get(ENDPOINT_ENV) or None)


def own_instance_id(imds_url: str = IMDS_URL, timeout: float = 5.0) -> str:
    """This node's instance id, from the instance metadata service (IMDSv2: a session token first)."""
    token_request = urllib.request.Request(
        f"{imds_url}/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    )
    with urllib.request.urlopen(token_request, timeout=timeout) as resp:
        token = resp.read().decode()
    id_request = urllib.request.Request(
        f"{imds_url}/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
    )
    with urllib.request.urlopen(id_request, timeout=timeout) as resp:
        return resp.read().decode().strip()


def launch_time(ec2: Any, instance_id: str) -> float:
    """When ``instance_id`` was launched, in seconds since the epoch."""
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservation["Instances"][0]["LaunchTime"].timestamp()


def main(argv: list[str] | None = None) -> int:
    """Run the agent: ``autostop_agent.py [--config FILE] [--instance-id ID]``; exit 0 once the cluster is
    terminating (or autostop is off), 1 when this node's instance cannot be found, 2 on a bad configuration."""
    parser = argparse.ArgumentParser(description="Terminate this EC2 cluster when idle or too old.")
    parser.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="the agent's JSON configuration")
    parser.add_argument("--instance-id", help="the master's instance id (default: this node's, from IMDSv2)")
    args = parser.parse_args(argv)
    # the agent's own logger, not the root's: main() also runs inside tests, whose logging it must not replace
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    try:
        return _serve(args.config, args.instance_id)
    finally:
        LOG.removeHandler(handler)


def _serve(config_path: Path, instance_id: str | None) -> int:
    try:
        config = Config.load(config_path)
    except ValueError as exc:
        LOG.error("bad configuration: %s; run `clusterctl up` again to rewrite it", exc)
        return 2
    if not config.enabled:
        LOG.info("autostop is off for %s (idle_timeout_s 0, no max_lifetime_s)", config.cluster)
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    ec2 = ec2_client(config.region)
    try:
        master_id = instance_id or own_instance_id()
        started_at = launch_time(ec2, master_id)
    except (BotoCoreError, ClientError, OSError) as exc:  # the service manager starts the agent again
        LOG.error("cannot find this master's instance and launch time: %s: %s", type(exc).__name__, exc)
        return 1
    LOG.info(
        "watching cluster %s from %s: stop after %s s idle, %s s after launch",
        config.cluster,
        master_id,
        config.idle_timeout_s or "never",
        config.max_lifetime_s or "never",
    )
    decision = Agent(config, ec2, master_id, started_at).run()
    LOG.info("cluster %s terminating (%s)", config.cluster, decision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
