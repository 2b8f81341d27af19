"""Import every model module so the mapper registry (and Alembic) sees all tables."""

from app.calendar.models import CalendarDay, CalendarYear
from app.cases.idempotency import CaseRequestKey
from app.cases.models import Case, CaseCounter, CaseMaterial, CasePause, ReviewTask
from app.catalog.models import Category, Department, Item, Material, TenantItem
from app.core.audit import AuditEvent, AuditHead
from app.core.auth import ApiToken, LoginAttempt
from app.halls.models import RoleGrant, Staff, Window
from app.sync.models import (
    AggregateHead,
    CaseIndexEntry,
    OutboxEvent,
    PlaceDayCount,
    ReceivedEvent,
    RejectedEvent,
    SeenBatch,
    SendAttempt,
    SenderState,
    SyncNode,
    SyncNodeKey,
)
from app.tenants.models import Division, Tenant

__all__ = [
    "AggregateHead", "ApiToken", "AuditEvent", "AuditHead", "CalendarDay", "CalendarYear", "Case", "CaseCounter",
    "CaseIndexEntry", "CaseMaterial", "CasePause", "CaseRequestKey", "Category", "Department", "Division", "Item",
    "LoginAttempt", "Material", "OutboxEvent", "PlaceDayCount", "ReceivedEvent", "RejectedEvent", "ReviewTask",
    "RoleGrant", "SeenBatch", "SendAttempt", "SenderState", "Staff", "SyncNode", "SyncNodeKey", "Tenant",
    "TenantItem", "Window",
]
