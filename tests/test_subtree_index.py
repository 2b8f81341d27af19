"""Is "a place and everything under it" an indexed range on both databases (DESIGN: no full scans)?"""

from __future__ import annotations

from sqlalchemy import select, text

from app.core.tenancy import Scope, set_scope
from app.halls.models import Window
from tests.conftest import LIXIA


def _plan_lines(session, statement) -> str:
    compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(str(row[-1]) for row in rows)
    session.execute(text("SET LOCAL enable_seqscan = off"))  # the demo tables are tiny; ask what is possible
    return "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")).all())


def test_scoped_window_query_uses_the_tenant_code_index(app):
    """Does a county admin's window list search the tenant_code index instead of scanning the table?"""
    session = set_scope(app.extensions["govhall.sessions"](), Scope.of_places([(LIXIA, True)]))
    try:
        statement = select(Window).where(Window.tenant_code.between("370102000000", "370102999999"))
        plan = _plan_lines(session, statement)
        assert "ix_windows_tenant_code" in plan, plan
        assert "SCAN windows" not in plan and "Seq Scan" not in plan, plan
    finally:
        session.rollback()
        session.close()


def test_core_items_path_keeps_the_scope(app):
    """Does the Core-level items query (which skips the ORM hook) still refuse a foreign place?"""
    from app.tenants.queries import place_item_rows
    from tests.conftest import LICHENG_SHANDALU, LIXIA_JIEFANGLU

    session = set_scope(app.extensions["govhall.sessions"](), Scope.of_places([(LIXIA_JIEFANGLU, False)]))
    try:
        assert place_item_rows(session, LIXIA_JIEFANGLU), "own place has items"
        assert place_item_rows(session, LICHENG_SHANDALU) == []
        set_scope(session, Scope.system())
        assert place_item_rows(session, LICHENG_SHANDALU), "the foreign place has items, so the check can fail"
    finally:
        session.close()
