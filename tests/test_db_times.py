"""app.core.db.sqlite_time writes times exactly as SQLAlchemy stores a UTCDateTime in SQLite: the bulk
writes of upward sync bypass SQLAlchemy's type processing, and what they write must read back and sort
like every other time in the database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text

from app.core.db import SQLITE_TIME_LENGTH, UTCDateTime, sqlite_time

TIMES = [
    dt.datetime(2026, 11, 27, 4, 12, 0, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),  # China time: stored as UTC
    dt.datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # crosses a day and a year
    dt.datetime(999, 3, 4, 5, 6, 7, tzinfo=dt.UTC),  # a year below 1000 keeps its four digits
]


@pytest.mark.parametrize("moment", TIMES, ids=lambda moment: moment.isoformat())
def test_sqlite_time_is_how_sqlalchemy_stores_it(moment):
    table = Table("times", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        table.create(connection)
        connection.execute(insert(table), {"id": 1, "at": moment})
        stored = connection.scalar(text("SELECT at FROM times"))
        assert sqlite_time(moment) == stored
        assert len(stored) == SQLITE_TIME_LENGTH
        # and it reads back as the same instant through the column type
        connection.execute(text("UPDATE times SET at = :at"), {"at": sqlite_time(moment)})
        assert connection.scalar(select(table.c.at)) == moment


def test_sqlite_time_refuses_a_naive_time_and_passes_none():
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(dt.datetime(2026, 11, 27, 4, 12))
    assert sqlite_time(None) is None
