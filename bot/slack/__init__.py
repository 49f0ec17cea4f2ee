"""Slack: the Bolt app and its listeners, deliveries, runner dispatch and reports,
files, text, and the HTTP and Socket Mode transports."""
