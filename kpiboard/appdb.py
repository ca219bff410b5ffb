"""The app database: state that is not a definition file — today, the pipeline's run history.

SQLite by default (``app.sqlite`` in the project folder), PostgreSQL when ``[app] database_url``
says so. Tables are created on first use.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kpiboard import urls
from kpiboard.config import Settings

metadata = sa.MetaData()

etl_runs = sa.Table(
    "etl_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    # running | success | partial | failed
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("snapshot", sa.String(200)),
    sa.Column("full_refresh", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
)

etl_table_runs = sa.Table(
    "etl_table_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("mode", sa.String(12), nullable=False),
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("rows_deleted", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("watermark_before", sa.String(40)),
    sa.Column("watermark_after", sa.String(40)),
    sa.Column("error", sa.Text),
)


def engine(settings: Settings) -> sa.Engine:
    """An engine on the app database, its tables created if missing."""
    url = urls.parse_url(settings.app.database_url)
    if urls.backend(url) == "sqlite" and url.database:
        url = url.set(database=str(settings.resolve(Path(url.database))))
    urls.ensure_database(url)
    eng = sa.create_engine(url)
    try:
        metadata.create_all(eng)
    except sa.exc.OperationalError as exc:
        eng.dispose()
        raise urls.connect_error(url, exc) from None
    return eng
