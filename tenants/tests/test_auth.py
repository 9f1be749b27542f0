"""POST /api/v1/auth/token and /api/v1/auth/token/refresh, and how access tokens are accepted or refused."""

from datetime import timedelta

import jwt
import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from conftest import PASSWORD
from tenants.models import Membership, Role, User

from .helpers import access_for, assert_error, obtain

REFRESH_URL = "/api/v1/auth/token/refresh"


def claims(raw: str) -> dict:
    return dict(AccessToken(raw).payload)


# --- obtain ---------------------------------------------------------------------------------------------------


def test_obtain_answers_an_access_and_a_refresh_token(world):
    response = obtain("acme-auditor")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert RefreshToken(body["refresh"])["user_id"] == str(world.acme.users[Role.AUDITOR].pk)


def test_access_token_is_bound_to_the_tenant_and_carries_the_role(world):
    payload = claims(obtain("acme-auditor").json()["access"])
    assert payload["tenant"] == "acme"
    assert payload["role"] == Role.AUDITOR
    assert payload["user_id"] == str(world.acme.users[Role.AUDITOR].pk)
    assert claims(obtain("globex-admin").json()["access"])["tenant"] == "globex"


def test_obtained_token_is_accepted_by_the_api(world, api):
    assert api(access_for("acme-user")).get("/api/v1/logs").status_code == 200


@pytest.mark.parametrize(
    "username, password",
    [("acme-admin", "wrong-password-123"), ("nobody-at-all", PASSWORD), ("acme-admin", PASSWORD.upper())],
)
def test_bad_username_or_password_is_401(world, username, password):
    assert_error(obtain(username, password), 401, "authentication_failed")


def test_inactive_user_cannot_log_in(world):
    user = world.acme.users[Role.USER]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert_error(obtain("acme-user"), 401)


@pytest.mark.parametrize("tenant", ["globex", "no-such-tenant"])
def test_naming_a_tenant_one_is_not_a_member_of_is_401(world, tenant):
    assert_error(obtain("acme-admin", tenant=tenant), 401, "authentication_failed")


def test_naming_ones_own_tenant_works(world):
    response = obtain("acme-admin", tenant="acme")
    assert response.status_code == 200
    assert claims(response.json()["access"])["tenant"] == "acme"


def test_user_without_any_membership_is_401(world):
    Membership.objects.filter(user=world.acme.users[Role.USER]).delete()
    assert_error(obtain("acme-user"), 401)


def test_member_of_several_tenants_must_name_one(world):
    Membership.objects.create(user=world.acme.users[Role.USER], tenant=world.globex.tenant, role=Role.AUDITOR)

    error = assert_error(obtain("acme-user"), 400, "validation_error")
    assert "acme" in error["details"]["tenant"][0] and "globex" in error["details"]["tenant"][0]

    acme, globex = claims(access_for("acme-user", tenant="acme")), claims(access_for("acme-user", tenant="globex"))
    assert (acme["tenant"], acme["role"]) == ("acme", Role.USER)
    assert (globex["tenant"], globex["role"]) == ("globex", Role.AUDITOR)


def test_staff_without_membership_gets_a_token_bound_to_no_tenant(world):
    payload = claims(access_for("platform-staff"))
    assert "tenant" not in payload and "role" not in payload


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "acme-admin", "password": PASSWORD, "scope": "all"}, "scope"),
        ({"username": "acme-admin"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "acme-admin", "password": PASSWORD, "tenant": "not a slug"}, "tenant"),
    ],
)
def test_obtain_rejects_unknown_missing_or_bad_fields(world, api, body, field):
    error = assert_error(api().post("/api/v1/auth/token", body, format="json"), 400, "validation_error")
    assert field in error["details"]


# --- refresh --------------------------------------------------------------------------------------------------


def refresh(api, raw: str):
    return api().post(REFRESH_URL, {"refresh": raw}, format="json")


def test_refresh_answers_a_new_working_access_token(world, api):
    pair = obtain("acme-user").json()
    response = refresh(api, pair["refresh"])
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access"}
    new = response.json()["access"]
    assert claims(new)["tenant"] == "acme" and claims(new)["jti"] != claims(pair["access"])["jti"]
    assert api(new).get("/api/v1/logs").status_code == 200


def test_refresh_picks_up_a_changed_role(world, api):
    raw_refresh = obtain("acme-user").json()["refresh"]
    Membership.objects.filter(user=world.acme.users[Role.USER]).update(role=Role.ADMIN)
    new = refresh(api, raw_refresh).json()["access"]
    assert claims(new)["role"] == Role.ADMIN
    assert api(new).get("/api/v1/members").status_code == 200


def test_refresh_after_the_membership_was_removed_is_401(world, api):
    raw_refresh = obtain("acme-user").json()["refresh"]
    Membership.objects.filter(user=world.acme.users[Role.USER]).delete()
    assert_error(refresh(api, raw_refresh), 401, "authentication_failed")


def test_refresh_of_a_deactivated_user_is_401(world, api):
    raw_refresh = obtain("acme-user").json()["refresh"]
    User.objects.filter(pk=world.acme.users[Role.USER].pk).update(is_active=False)
    assert_error(refresh(api, raw_refresh), 401)


def test_staff_refresh_works_until_staff_status_is_withdrawn(world, api):
    raw_refresh = obtain("platform-staff").json()["refresh"]
    assert refresh(api, raw_refresh).status_code == 200
    User.objects.filter(pk=world.staff.pk).update(is_staff=False)
    assert_error(refresh(api, raw_refresh), 401)


def test_an_access_token_is_not_a_refresh_token(world, api):
    assert_error(refresh(api, world.acme.tokens[Role.ADMIN]), 401)


def test_an_expired_refresh_token_is_401(world, api):
    token = RefreshToken.for_user(world.acme.users[Role.USER])
    token["tenant"] = "acme"
    token.set_exp(lifetime=-timedelta(seconds=1))
    assert_error(refresh(api, str(token)), 401)


@pytest.mark.parametrize("body", [{"refresh": "not-a-token"}, {"refresh": "a.b.c"}, {}, {"refresh": "x", "extra": 1}])
def test_refresh_with_malformed_input(world, api, body):
    response = api().post(REFRESH_URL, body, format="json")
    assert_error(response, 401 if set(body) == {"refresh"} else 400)


# --- access tokens on the API ---------------------------------------------------------------------------------


def hand_made_access(user, lifetime: timedelta, tenant="acme", role=Role.ADMIN) -> str:
    token = AccessToken()
    token["user_id"] = user.pk
    token["tenant"] = tenant
    token["role"] = role
    token.set_exp(lifetime=lifetime)
    return str(token)


def test_an_expired_access_token_is_401(world, api):
    admin = world.acme.users[Role.ADMIN]
    assert api(hand_made_access(admin, timedelta(minutes=5))).get("/api/v1/members").status_code == 200
    assert_error(api(hand_made_access(admin, -timedelta(seconds=1))).get("/api/v1/members"), 401)


def test_a_refresh_token_is_not_an_access_token(world, api):
    raw_refresh = obtain("acme-admin").json()["refresh"]
    assert_error(api(raw_refresh).get("/api/v1/members"), 401, "authentication_failed")


def test_access_token_of_a_removed_membership_is_401_at_once(world, api):
    client = api(world.acme.tokens[Role.USER])
    assert client.get("/api/v1/logs").status_code == 200
    Membership.objects.filter(user=world.acme.users[Role.USER]).delete()
    assert_error(client.get("/api/v1/logs"), 401)


def test_rights_follow_the_current_role_not_the_claim(world, api):
    client = api(world.acme.tokens[Role.AUDITOR])  # its claim says AUDITOR
    Membership.objects.filter(user=world.acme.users[Role.AUDITOR]).update(role=Role.ADMIN)
    assert client.get("/api/v1/members").status_code == 200


def forged(world) -> str:
    payload = claims(world.acme.tokens[Role.USER]) | {"role": Role.ADMIN}
    return jwt.encode(payload, "some-other-signing-key-of-32-bytes!!", algorithm="HS256")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer",
        "Bearer two parts",
        "Bearer alk_looks_like_a_key",
        "FORGED",
    ],
)
def test_malformed_or_forged_bearer_is_401(world, api, header):
    if header == "FORGED":
        header = f"Bearer {forged(world)}"
    response = api().get("/api/v1/logs", HTTP_AUTHORIZATION=header)
    assert_error(response, 401)


def test_unknown_authorization_scheme_is_unauthenticated(world, api):
    response = api().get("/api/v1/logs", HTTP_AUTHORIZATION="Basic YWNtZS1hZG1pbjpwdw==")
    assert_error(response, 401, "not_authenticated")
