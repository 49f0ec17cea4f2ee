"""The agent on an Ascend host: its loop, its HTTP client to the coordinator, and one
leased job run in a thread."""
