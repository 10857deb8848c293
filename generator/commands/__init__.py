"""CLI commands beyond build: each module exports COMMANDS, a list of click commands."""
