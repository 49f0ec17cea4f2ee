"""The chat-neutral core: what the bot answers and remembers, and every sentence it says."""
