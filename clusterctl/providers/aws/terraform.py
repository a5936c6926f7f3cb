"""A thin, explicit wrapper around the terraform CLI (python-terraform does not work with 1.x).

Every call is ``terraform -chdir=DIR <verb> -input=false -no-color ...`` with
``TF_IN_AUTOMATION=1`` and clusterctl's own CLI config file, so a local provider mirror can be
used offline (``CLUSTERCTL_TF_MIRROR`` or ``--provider-mirror``). Failures raise
``TerraformError`` carrying terraform's own error text.
"""

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterctl.errors import ClusterctlError

MIRROR_ENV = "CLUSTERCTL_TF_MIRROR"


class TerraformError(ClusterctlError):
    """terraform exited non-zero; the message is terraform's first error, on one line."""


def cli_config(mirror: Path | None) -> str:
    """The CLI config: install hashicorp providers from ``mirror`` when given, else from the registry."""
    if mirror is None:
        return "# clusterctl: providers come from the public registry\n"
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        "}\n"
    )


def _first_error(stderr: str) -> str:
    text = re.sub(r"[╷│╵]", "", stderr)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Error:"):
            detail = next((ln for ln in lines[i + 1 :] if not ln.startswith(("on ", "with ", "Error:"))), "")
            return f"{line}{' — ' + detail if detail else ''}"
    return lines[-1] if lines else "terraform failed without output"


@dataclass
class PlanSummary:
    """What a saved plan would do, by resource type."""

    add: Counter = field(default_factory=Counter)
    change: Counter = field(default_factory=Counter)
    destroy: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "add": dict(sorted(self.add.items())),
            "change": dict(sorted(self.change.items())),
            "destroy": dict(sorted(self.destroy.items())),
            "warnings": self.warnings,
        }


def summarize_plan(plan: dict[str, Any]) -> PlanSummary:
    """Count resource changes by type and flag risky settings in ``terraform show -json`` output."""
    summary = PlanSummary()
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        rtype = rc["type"]
        if "create" in actions:
            summary.add[rtype] += 1
        if "delete" in actions:
            summary.destroy[rtype] += 1
        if actions == ["update"]:
            summary.change[rtype] += 1
        after = rc["change"].get("after") or {}
        summary.warnings += _risks(rc["address"], rtype, after)
    return summary


def _risks(address: str, rtype: str, after: dict[str, Any]) -> list[str]:
    found = []
    world = {"0.0.0.0/0", "::/0"}
    if rtype == "aws_vpc_security_group_ingress_rule" and {after.get("cidr_ipv4"), after.get("cidr_ipv6")} & world:
        found.append(f"{address}: ingress port {after.get('from_port')} open to the whole internet")
    if rtype == "aws_security_group":
        for rule in after.get("ingress") or []:
            if world & set(rule.get("cidr_blocks") or []) | world & set(rule.get("ipv6_cidr_blocks") or []):
                found.append(f"{address}: ingress port {rule.get('from_port')} open to the whole internet")
    if rtype == "aws_instance":
        for meta in after.get("metadata_options") or []:
            if meta.get("http_tokens") != "required":
                found.append(f"{address}: IMDSv1 allowed (metadata_options.http_tokens is not 'required')")
        for dev in (after.get("root_block_device") or []) + (after.get("ebs_block_device") or []):
            if dev.get("encrypted") is False:
                found.append(f"{address}: unencrypted volume {dev.get('device_name', 'root')}")
    return found


class Terraform:
    """Runs terraform in one directory with clusterctl's CLI config."""

    def __init__(self, directory: Path, mirror: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.dir = directory
        binary = shutil.which("terraform")
        if binary is None:
            raise ClusterctlError("terraform not found on PATH: install Terraform >= 1.5 and retry")
        self.binary = binary
        mirror = mirror or (Path(os.environ[MIRROR_ENV]) if os.environ.get(MIRROR_ENV) else None)
        if mirror is not None and not mirror.is_dir():
            raise ClusterctlError(f"provider mirror {mirror} does not exist; fix {MIRROR_ENV} / --provider-mirror")
        self.rc = directory / ".terraformrc"
        directory.mkdir(parents=True, exist_ok=True)
        self.rc.write_text(cli_config(mirror))
        self.env = {
            **os.environ,
            **(env or {}),
            "TF_IN_AUTOMATION": "1",
            "TF_CLI_CONFIG_FILE": str(self.rc),
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }

    def _exec(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, f"-chdir={self.dir}", *args], env=self.env, capture_output=True, text=True, check=False
        )

    def run(self, *args: str) -> str:
        """Run ``terraform -chdir=DIR ARGS``; return stdout or raise TerraformError."""
        proc = self._exec(*args)
        if proc.returncode != 0:
            raise TerraformError(f"terraform {args[0]}: {_first_error(proc.stderr or proc.stdout)}")
        return proc.stdout

    def init(self) -> None:
        """``terraform init`` (providers from the mirror when configured)."""
        self.run("init", "-input=false", "-no-color")

    def validate(self) -> dict[str, Any]:
        """``terraform validate -json``; raises with the first error diagnostic when the configuration is invalid."""
        # An invalid configuration exits 1 with its diagnostics as JSON on stdout.
        proc = self._exec("validate", "-json", "-no-color")
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise TerraformError(f"terraform validate: {_first_error(proc.stderr or proc.stdout)}") from None
        if not result.get("valid"):
            diag: dict[str, Any] = next((d for d in result.get("diagnostics", []) if d.get("severity") == "error"), {})
            raise TerraformError(f"terraform validate: {diag.get('summary', 'invalid')} — {diag.get('detail', '')}")
        return result

    def plan(self, out: str = "tfplan", destroy: bool = False, targets: list[str] | None = None) -> dict[str, Any]:
        """``terraform plan -out`` (of ``targets`` only, when given) then ``show -json`` of the saved plan."""
        self.run(
            "plan",
            "-input=false",
            "-no-color",
            "-lock-timeout=60s",
            f"-out={out}",
            *(["-destroy"] if destroy else []),
            *(f"-target={t}" for t in targets or []),
        )
        return json.loads(self.run("show", "-json", "-no-color", out))

    def apply(self, plan_file: str = "tfplan") -> None:
        """Apply exactly the saved plan."""
        self.run("apply", "-input=false", "-no-color", "-lock-timeout=60s", plan_file)

    def destroy(self, targets: list[str] | None = None) -> None:
        """Destroy everything in the state, or only ``targets`` (resource/module addresses)."""
        self.run(
            "destroy",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-lock-timeout=60s",
            *[f"-target={t}" for t in targets or []],
        )

    def output(self) -> dict[str, Any]:
        """``terraform output -json`` as plain values."""
        raw = json.loads(self.run("output", "-json", "-no-color") or "{}")
        return {k: v["value"] for k, v in raw.items()}

    def state_resources(self) -> list[str]:
        """Addresses of the resources in the state ([] when there is no state)."""
        try:
            return [ln for ln in self.run("state", "list", "-no-color").splitlines() if ln.strip()]
        except TerraformError:
            return []
