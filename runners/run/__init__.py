"""One run on this host: the playbook, the `vllm serve` process, its log followed, the
requests after ready and what the replies were, the verdict and the next step; the doctor's
examination before a launch and as the `/doctor` job."""
