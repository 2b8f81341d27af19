"""Import every model module so the mapper registry (and Alembic) sees all tables."""

from app.catalog.models import Category, Department, Item, Material, TenantItem
from app.core.auth import ApiToken, LoginAttempt
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.models import Division, Tenant

__all__ = [
    "ApiToken", "Category", "Department", "Division", "Item", "LoginAttempt", "Material",
    "RoleGrant", "Staff", "Tenant", "TenantItem", "Window",
]
