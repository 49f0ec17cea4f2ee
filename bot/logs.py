"""How a process logs to stderr: `ONCALL_LOG_FORMAT=text` (`LEVEL logger: message`, for
people) or `json` (one object a line with timestamp, level, logger, message and any
traceback, for the log shippers that watch a bot and a fleet of agents).

Configured once by the entry point; the modules only call `logging.getLogger`.
"""

from __future__ import annotations

import logging
from typing import Literal

from structlog.processors import EventRenamer, JSONRenderer, TimeStamper, format_exc_info
from structlog.stdlib import ProcessorFormatter, add_log_level, add_logger_name

LogFormat = Literal["text", "json"]


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "text":
        return logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return ProcessorFormatter(
        # The project logs through the standard library: every record is "foreign" here.
        foreign_pre_chain=[add_log_level, add_logger_name, TimeStamper(fmt="iso", utc=True)],
        processors=[
            ProcessorFormatter.remove_processors_meta,
            format_exc_info,
            EventRenamer("message"),
            JSONRenderer(),
        ],
    )


def configure(log_format: LogFormat, level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
