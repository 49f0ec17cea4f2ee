"""Renderings of answers and runner jobs: Slack blocks, plain text, the terminal."""
