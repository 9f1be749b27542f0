"""/api/v1/members: Admins add people with a role, change roles, and remove them; a tenant always keeps an Admin."""

import pytest

from conftest import PASSWORD
from tenants.models import Membership, Role, User

from .helpers import access_for, assert_error, obtain

URL = "/api/v1/members"


def new_member(**overrides) -> dict:
    return {"username": "acme-newbie", "email": "newbie@acme.test", "password": PASSWORD, "role": Role.AUDITOR} | (
        overrides
    )


def membership_of(world, role) -> Membership:
    return Membership.objects.get(user=world.acme.users[role], tenant=world.acme.tenant)


# --- list, create, detail --------------------------------------------------------------------------------------


def test_admin_lists_the_tenants_members(world, admin_api):
    response = admin_api.get(URL)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(m["username"], m["role"]) for m in results] == [
        ("acme-admin", Role.ADMIN),
        ("acme-auditor", Role.AUDITOR),
        ("acme-user", Role.USER),
    ]
    assert {"id", "username", "email", "role"} <= set(results[0])
    assert b"password" not in response.content


def test_admin_adds_a_member_who_can_log_in_with_that_role(world, admin_api, api):
    response = admin_api.post(URL, new_member(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "username", "email", "role"} <= set(body)
    assert (body["username"], body["email"], body["role"]) == ("acme-newbie", "newbie@acme.test", Role.AUDITOR)
    assert PASSWORD not in response.content.decode()
    membership = Membership.objects.get(pk=body["id"])
    assert membership.tenant == world.acme.tenant and membership.user.username == "acme-newbie"

    token = access_for("acme-newbie")
    assert api(token).get("/api/v1/logs").status_code == 200
    assert_error(api(token).get(URL), 403, "permission_denied")  # an Auditor, not an Admin

    detail = admin_api.get(f"{URL}/{body['id']}")
    assert detail.status_code == 200 and detail.json()["username"] == "acme-newbie"


def test_a_new_admin_can_manage_members(world, admin_api, api):
    admin_api.post(URL, new_member(role=Role.ADMIN), format="json")
    assert api(access_for("acme-newbie")).get(URL).status_code == 200


@pytest.mark.parametrize("username", ["acme-user", "ACME-USER", "globex-admin", "platform-staff"])
def test_taken_username_is_409(world, admin_api, username):
    assert_error(admin_api.post(URL, new_member(username=username), format="json"), 409, "conflict")
    assert Membership.objects.filter(tenant=world.acme.tenant).count() == 3


@pytest.mark.parametrize("password", ["short", "password123", "98765432109876", "acme-newbie1"])
def test_weak_password_is_400(world, admin_api, password):
    error = assert_error(admin_api.post(URL, new_member(password=password), format="json"), 400, "validation_error")
    assert "password" in error["details"]
    assert not User.objects.filter(username="acme-newbie").exists()


def test_invalid_input_is_400_even_when_the_username_is_taken(world, admin_api):
    response = admin_api.post(URL, new_member(username="acme-user", password="short"), format="json")
    assert "password" in assert_error(response, 400, "validation_error")["details"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"role": "OWNER"}, "role"),
        ({"role": "admin"}, "role"),
        ({"is_staff": True}, "is_staff"),
        ({"tenant": "globex"}, "tenant"),
        ({"username": "has space"}, "username"),
        ({"email": "nope"}, "email"),
    ],
)
def test_bad_or_unknown_fields_are_400(world, admin_api, overrides, field):
    error = assert_error(admin_api.post(URL, new_member(**overrides), format="json"), 400, "validation_error")
    assert field in error["details"]
    assert not User.objects.filter(username=new_member(**overrides)["username"]).exists()


def test_unknown_member_is_404(world, admin_api):
    for response in (
        admin_api.get(f"{URL}/999999"),
        admin_api.patch(f"{URL}/999999", {"role": Role.USER}, format="json"),
        admin_api.delete(f"{URL}/999999"),
    ):
        assert_error(response, 404, "not_found")


# --- change role ----------------------------------------------------------------------------------------------


def test_patch_role_takes_effect_on_existing_tokens(world, admin_api, api):
    user_client = api(world.acme.tokens[Role.USER])
    assert_error(user_client.get(URL), 403)

    response = admin_api.patch(f"{URL}/{membership_of(world, Role.USER).pk}", {"role": Role.ADMIN}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["role"] == Role.ADMIN
    assert membership_of(world, Role.USER).role == Role.ADMIN
    assert user_client.get(URL).status_code == 200


def test_patch_email(world, admin_api):
    pk = membership_of(world, Role.AUDITOR).pk
    response = admin_api.patch(f"{URL}/{pk}", {"email": "new@acme.test"}, format="json")
    assert response.status_code == 200 and response.json()["email"] == "new@acme.test"
    assert User.objects.get(username="acme-auditor").email == "new@acme.test"


def test_email_of_someone_in_another_tenant_cannot_be_changed(world, admin_api):
    shared = world.acme.users[Role.AUDITOR]
    Membership.objects.create(user=shared, tenant=world.globex.tenant, role=Role.USER)
    pk = membership_of(world, Role.AUDITOR).pk
    error = assert_error(admin_api.patch(f"{URL}/{pk}", {"email": "mine@acme.test"}, format="json"), 400)
    assert "email" in error["details"]
    shared.refresh_from_db()
    assert shared.email != "mine@acme.test"


@pytest.mark.parametrize("body, field", [({"role": "ROOT"}, "role"), ({"username": "x"}, "username")])
def test_patch_rejects_bad_or_unknown_fields(world, admin_api, body, field):
    pk = membership_of(world, Role.USER).pk
    error = assert_error(admin_api.patch(f"{URL}/{pk}", body, format="json"), 400, "validation_error")
    assert field in error["details"]
    assert membership_of(world, Role.USER).role == Role.USER


# --- the last Admin -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.USER])
def test_the_last_admin_cannot_be_demoted(world, admin_api, role):
    pk = membership_of(world, Role.ADMIN).pk
    error = assert_error(admin_api.patch(f"{URL}/{pk}", {"role": role}, format="json"), 400, "validation_error")
    assert "role" in error["details"]
    assert membership_of(world, Role.ADMIN).role == Role.ADMIN


def test_the_last_admin_cannot_be_removed(world, admin_api):
    pk = membership_of(world, Role.ADMIN).pk
    assert_error(admin_api.delete(f"{URL}/{pk}"), 400, "validation_error")
    assert Membership.objects.filter(pk=pk).exists()


def test_an_inactive_admin_does_not_count_as_another_admin(world, admin_api, second_admin):
    User.objects.filter(pk=second_admin.user_id).update(is_active=False)
    pk = membership_of(world, Role.ADMIN).pk
    assert_error(admin_api.patch(f"{URL}/{pk}", {"role": Role.USER}, format="json"), 400)
    assert_error(admin_api.delete(f"{URL}/{pk}"), 400)


def test_with_another_admin_an_admin_can_be_demoted(world, admin_api, api, second_admin):
    pk = membership_of(world, Role.ADMIN).pk
    response = admin_api.patch(f"{URL}/{pk}", {"role": Role.USER}, format="json")
    assert response.status_code == 200 and response.json()["role"] == Role.USER
    assert_error(admin_api.get(URL), 403, "permission_denied")  # the demoted Admin's own token
    # Now the second Admin is the last one.
    second = api(access_for("acme-admin-2"))
    assert_error(second.patch(f"{URL}/{second_admin.pk}", {"role": Role.USER}, format="json"), 400)


def test_with_another_admin_an_admin_can_be_removed(world, admin_api, second_admin):
    assert admin_api.delete(f"{URL}/{second_admin.pk}").status_code == 204
    assert not Membership.objects.filter(pk=second_admin.pk).exists()


# --- remove ---------------------------------------------------------------------------------------------------


def test_delete_removes_access_at_once(world, admin_api, api):
    user_client = api(world.acme.tokens[Role.USER])
    assert user_client.get("/api/v1/logs").status_code == 200

    assert admin_api.delete(f"{URL}/{membership_of(world, Role.USER).pk}").status_code == 204

    assert not Membership.objects.filter(user=world.acme.users[Role.USER]).exists()
    assert_error(user_client.get("/api/v1/logs"), 401)
    assert_error(obtain("acme-user"), 401)
    assert "acme-user" not in [m["username"] for m in admin_api.get(URL).json()["results"]]


def test_removing_a_member_of_two_tenants_keeps_the_other(world, admin_api):
    user = world.acme.users[Role.USER]
    Membership.objects.create(user=user, tenant=world.globex.tenant, role=Role.USER)
    assert admin_api.delete(f"{URL}/{membership_of(world, Role.USER).pk}").status_code == 204
    assert User.objects.get(pk=user.pk).is_active
    assert access_for("acme-user")  # now only a member of globex, so no tenant needs naming
    assert_error(obtain("acme-user", tenant="acme"), 401)


def test_removing_staff_from_a_tenant_keeps_their_platform_access(world, admin_api, api):
    membership = Membership.objects.create(user=world.staff, tenant=world.acme.tenant, role=Role.USER)
    assert admin_api.delete(f"{URL}/{membership.pk}").status_code == 204
    assert api(access_for("platform-staff")).get("/api/v1/tenants").status_code == 200


# --- who may --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.USER, Role.AUDITOR])
def test_users_and_auditors_are_refused(world, api, role):
    client = api(world.acme.tokens[role])
    pk = membership_of(world, Role.USER).pk
    assert_error(client.get(URL), 403, "permission_denied")
    assert_error(client.post(URL, new_member(), format="json"), 403, "permission_denied")
    assert_error(client.get(f"{URL}/{pk}"), 403, "permission_denied")
    assert_error(client.patch(f"{URL}/{pk}", {"role": Role.ADMIN}, format="json"), 403, "permission_denied")
    assert_error(client.delete(f"{URL}/{pk}"), 403, "permission_denied")
    assert membership_of(world, Role.USER).role == Role.USER
    assert not User.objects.filter(username="acme-newbie").exists()


@pytest.mark.parametrize("credential", ["ingest", "read", "export", "staff", None])
def test_keys_and_staff_are_refused_and_anonymous_is_401(world, api, credential):
    token = world.staff_token if credential == "staff" else world.acme.keys.get(credential)
    response = api(token).post(URL, new_member(role=Role.ADMIN), format="json")
    assert_error(response, 401 if credential is None else 403)
    assert_error(api(token).get(URL), 401 if credential is None else 403)
    assert not User.objects.filter(username="acme-newbie").exists()
