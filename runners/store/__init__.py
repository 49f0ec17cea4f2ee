"""Runner jobs in the shared SQLAlchemy database: the tables, the job store and its parts
(agents, queueing, leasing, expiry, logs, reply sets) and the jobs' Prometheus metrics."""
