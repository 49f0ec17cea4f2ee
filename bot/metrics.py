"""Prometheus metrics of the bot, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("oncall_slack_requests", "Slack requests handled, by kind", ["kind"])
DUPLICATES = Counter("oncall_slack_duplicates", "Slack retries and duplicate deliveries dropped")
ANSWERS = Counter("oncall_answers", "Triage answers given", ["verdict", "source"])
FEEDBACK = Counter("oncall_feedback", "Feedback votes stored", ["vote"])
SLACK_ERRORS = Counter("oncall_slack_api_errors", "Slack Web API calls that failed", ["method"])
DISPATCHES = Counter("oncall_runner_dispatches", "Runner job requests, by outcome", ["allowed"])
RUNNER_VERDICTS = Counter(
    "oncall_runner_verdicts", "Runner job verdicts shown", ["playbook", "status"]
)
TRIAGE_SECONDS = Histogram(
    "oncall_triage_seconds",
    "Time to triage one paste",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ACK_SECONDS = Histogram(
    "oncall_slack_ack_seconds",
    "Time from a Slack request's arrival to the bot's answer (the ack)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 3, 5),
)
