"""Known-good replies: a finished run's deterministic replies kept as the known-good set of
its config and compared with later runs (graph vs eager, other revisions), and the reply
sets `ascend-oncall run` keeps in a file."""
