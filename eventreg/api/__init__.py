"""The seam between the commands and the domain (see protocol.py)."""
