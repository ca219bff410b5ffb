"""Per-table checksums of a database's content, comparable across SQLite, PostgreSQL and MariaDB.

Rows are read in primary-key order through SQLAlchemy's types (so SQLite's text timestamps come
back as datetimes and every engine's decimals as :class:`~decimal.Decimal`) and normalized —
decimals to their column's scale, times to whole seconds, booleans to 0/1 — before hashing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from kpiboard import urls


def _normalize(value: Any, kind: sa.types.TypeEngine[Any]) -> str:
    if value is None:
        return "\\N"
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        scale = Decimal(1).scaleb(-(kind.scale or 0))
        return str(Decimal(str(value)).quantize(scale))
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0, tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(kind, sa.Boolean):
        return "1" if value else "0"
    return str(value)


def table_checksums(url: URL, metadata: sa.MetaData) -> dict[str, tuple[int, str]]:
    """``{table: (row count, sha256 of its normalized rows)}`` for every table of ``metadata``."""
    engine = sa.create_engine(url)
    out: dict[str, tuple[int, str]] = {}
    try:
        with engine.connect() as con:
            for table in metadata.sorted_tables:
                digest = hashlib.sha256()
                count = 0
                query = sa.select(table).order_by(*table.primary_key.columns)
                result = con.execution_options(stream_results=True, yield_per=5000).execute(query)
                for row in result:
                    line = "\t".join(
                        _normalize(v, c.type) for v, c in zip(row, table.columns, strict=True)
                    )
                    digest.update(line.encode())
                    digest.update(b"\n")
                    count += 1
                out[table.name] = (count, digest.hexdigest())
    except sa.exc.OperationalError as exc:
        raise urls.connect_error(url, exc) from None
    finally:
        engine.dispose()
    return out
