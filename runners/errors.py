"""The runners' named failures; each message says what to do about it."""

from __future__ import annotations


class RunnerError(Exception):
    """Base of everything the runners raise on purpose."""


class InvalidTransition(RunnerError):
    """A job was asked to move where its state machine does not go."""


class SpecError(RunnerError):
    """A job request that is not allowed: an unknown flag, env name, fallback or model."""


class LaunchError(RunnerError):
    """The server command could not be started at all (not found, not executable)."""


class CoordinatorError(RunnerError):
    """The coordinator refused or could not be reached."""


class AuthError(CoordinatorError):
    """A missing or wrong agent token."""


class RepliesError(RunnerError):
    """The known-good and earlier replies could not be read or written (their database
    table, or the local file of `ascend-oncall run`)."""
