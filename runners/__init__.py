"""Runner jobs on Ascend hosts: store, coordinator API, agent, playbooks (to come)."""

__all__: list[str] = []
