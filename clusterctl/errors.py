"""Exceptions that the CLI turns into one-line messages and exit codes."""


class ClusterctlError(Exception):
    """An operational failure: the message says what failed and how to fix it (exit code 1)."""

    exit_code = 1


class SpecError(ClusterctlError):
    """The cluster spec (or a command-line value standing in for it) is invalid (exit code 2)."""

    exit_code = 2
