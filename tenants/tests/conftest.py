"""Local fixtures of the tenants tests (the shared test world is in the root conftest)."""

import pytest

from conftest import PASSWORD
from tenants.models import Membership, Role, User


@pytest.fixture
def admin_api(world, api):
    """acme's Admin, by access token."""
    return api(world.acme.tokens[Role.ADMIN])


@pytest.fixture
def second_admin(world):
    """A second Admin of acme (so that acme's first Admin may be demoted or removed)."""
    user = User.objects.create_user(username="acme-admin-2", email="admin2@acme.test", password=PASSWORD)
    return Membership.objects.create(user=user, tenant=world.acme.tenant, role=Role.ADMIN)
