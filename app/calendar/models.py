"""The national working-day calendar: one row per year with data, one per day that breaks the Mon–Fri rule.

National data, not tenant-owned: every place of every node uses the same State Council schedule.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow

KIND_CHECK = "kind IN ('holiday', 'workday')"


class CalendarYear(Base):
    """A year whose schedule is loaded. A year without this row is "calendar missing", never guessed."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(300))  # the notice (国办发明电…) or "chinese-calendar 1.11.0"
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """A declared day: 'holiday' = a day off of a holiday period (放假; may fall on a weekend),
    'workday' = a Saturday or Sunday declared a working day (调休上班)."""

    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint(KIND_CHECK, name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # Always the day's own year (a notice's days in the previous December belong to that year's row).
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100), default="")  # the holiday: 春节, 国庆节 …
