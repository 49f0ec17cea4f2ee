"""Why the doctor could not examine a checkpoint at all (what it finds wrong in one is a
finding, never an exception).

    RunnerError
    └── DoctorError          the examination cannot start
        ├── ModelDirError    the model folder does not exist, is not a folder, or is outside
        │                    the model roots (`path`)
        └── ServeArgsError   serve arguments the doctor cannot read (`argument`)
"""

from __future__ import annotations

from runners.errors import RunnerError


class DoctorError(RunnerError):
    """Root of what the doctor raises."""


class ModelDirError(DoctorError):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class ServeArgsError(DoctorError):
    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = argument
