"""Prompt strategies ftgen ships beside an Axolotl config (`ftgen explain FT107`)."""
