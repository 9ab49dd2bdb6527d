"""The routes, one module per command group: auth, users (me), events, admin, and operations."""
