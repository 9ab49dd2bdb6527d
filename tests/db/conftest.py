from tests.db.fixtures import bare_db, bare_template, empty_db, migrations, owner, seeders

__all__ = ["bare_db", "bare_template", "empty_db", "migrations", "owner", "seeders"]
