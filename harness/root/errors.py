"""One exception tree for npubench, and the exit codes of the command line.

Every room (harness, devices, workloads, reports) imports its errors from here, and nothing
here imports them. The CLI catches ``NpubenchError`` once and turns it into a message and an
exit code; anything else is a bug and keeps its traceback.

``infrastructure`` separates a flaky phone or host (retryable: the same job may pass on the
next try) from a product failure: a model, delegate or configuration that is really wrong.
``device`` names the device where there is one (None for errors with no device).
"""

from __future__ import annotations

EXIT_OK = 0
"""Every job ok or skipped."""
EXIT_USAGE = 1
"""Usage or configuration error (argparse included); nothing ran."""
EXIT_REGRESSION = 2
"""A regression was found (comparisons)."""
EXIT_INFRA = 3
"""A device or infrastructure failure."""
EXIT_JOBS_FAILED = 4
"""The run finished but one or more jobs failed."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C, SIGTERM): what was measured stays in results.jsonl."""


class NpubenchError(Exception):
    """Base of every error npubench raises on purpose."""

    kind = "error"
    infrastructure = False
    device: str | None = None

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def retryable(self) -> bool:
        """An infrastructure fault: the same job may succeed when tried again."""
        return self.infrastructure

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    @property
    def one_line(self) -> str:
        """The message and, in parentheses, what to do: for a record or a list of problems."""
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def as_record(self) -> dict:
        """The ``error`` field of a result record."""
        record = {"kind": self.kind, "message": self.one_line,
                  "infrastructure": self.infrastructure}
        if self.device is not None:
            record["device"] = self.device
        return record


class ConfigError(NpubenchError):
    """A suite, option or backend spec that is wrong: the user must change it."""

    kind = "config"


class WorkloadError(NpubenchError):
    """A model that is missing, corrupt, unsupported, or cannot be fetched."""

    kind = "workload"


class FetchError(WorkloadError):
    """A model could not be downloaded or failed its checksum."""

    kind = "fetch"
    infrastructure = True


class BackendUnavailable(NpubenchError):
    """The backend cannot run on this device; the job becomes a ``skipped`` record."""

    kind = "unavailable"


class RuntimeFailure(NpubenchError):
    """The runtime refused or crashed while running the model."""

    kind = "runtime"


class DeviceError(NpubenchError):
    """Something went wrong with a device; always names the device."""

    kind = "device"
    infrastructure = True

    def __init__(self, device: str, message: str, *, hint: str | None = None):
        super().__init__(f"{device}: {message}", hint=hint)
        self.device = device


class DeviceLost(DeviceError):
    """The device vanished in the middle of the work."""

    kind = "device_lost"


class ToolError(DeviceError):
    """A benchmark tool on the device failed."""

    kind = "tool"


class ResultsError(NpubenchError):
    """A results folder or file that cannot be read (missing, or a newer schema)."""

    kind = "results"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its type's name when it has none (what a
    runtime's own exception says, for an npubench error's message)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """Any exception on one line: an npubench error's message and what to do; another's type
    and the first line of its text."""
    if isinstance(exc, NpubenchError):
        return exc.one_line
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
