"""The working-day calendar (工作日历): national holidays and swapped working days (调休) as data,
and the clock that turns a time limit into a due date (DOMAIN.md §5)."""
