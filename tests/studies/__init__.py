"""The studies layer: Optuna storages (journal, SQLite, PostgreSQL), workers, the dashboard."""
