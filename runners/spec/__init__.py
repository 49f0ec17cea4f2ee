"""What a job asks for: its spec and the rules it must pass, the chat command grammar, the
JSON flag values a job may give, and the runbook's named fallbacks."""
