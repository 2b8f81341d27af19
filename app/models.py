"""Import every model module so the mapper registry (and Alembic) sees all tables."""

from app.calendar.models import CalendarDay, CalendarYear
from app.cases.idempotency import CaseRequestKey
from app.cases.models import Case, CaseCounter, CaseMaterial, CasePause, ReviewTask
from app.catalog.models import Category, Department, Item, Material, TenantItem
from app.core.audit import AuditEvent, AuditHead
from app.core.auth import ApiToken, LoginAttempt
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.models import Division, Tenant

__all__ = [
    "ApiToken", "AuditEvent", "AuditHead", "CalendarDay", "CalendarYear", "Case", "CaseCounter", "CaseMaterial",
    "CasePause", "CaseRequestKey", "Category", "Department", "Division", "Item", "LoginAttempt", "Material",
    "ReviewTask", "RoleGrant", "Staff", "Tenant", "TenantItem", "Window",
]
