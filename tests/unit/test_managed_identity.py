"""The operator's managed-identity allowance (domain/managed_identity.py)."""

from __future__ import annotations

import uuid

import pytest

from domain.managed_identity import (
    SETTING,
    AllowanceError,
    identity_allowed,
    parse_allowances,
    vault_allowed,
)

TEAM_A, TEAM_B = str(uuid.uuid4()), str(uuid.uuid4())
IDENTITY = str(uuid.uuid4())


def test_without_an_allowance_no_project_may_use_a_managed_identity():
    why = identity_allowed((), TEAM_A, "")
    assert why is not None and SETTING in why and "system-assigned" in why
    assert identity_allowed((), TEAM_A, IDENTITY) is not None


def test_an_allowance_names_the_project_and_the_identity():
    allowed = parse_allowances(f"{TEAM_A}={IDENTITY}; {TEAM_B}=system")
    assert identity_allowed(allowed, TEAM_A, IDENTITY) is None
    assert identity_allowed(allowed, TEAM_A.upper(), IDENTITY.upper()) is None
    assert identity_allowed(allowed, TEAM_A, "") is not None  # not the system identity
    assert identity_allowed(allowed, TEAM_B, "") is None
    assert identity_allowed(allowed, TEAM_B, IDENTITY) is not None


def test_wildcards_cover_every_project_or_identity():
    allowed = parse_allowances(f"*={IDENTITY} {TEAM_B}=*")
    assert identity_allowed(allowed, TEAM_A, IDENTITY) is None
    assert identity_allowed(allowed, TEAM_B, str(uuid.uuid4())) is None
    assert identity_allowed(allowed, TEAM_A, "") is not None


def test_vault_globs_narrow_which_vaults_a_project_reaches():
    allowed = parse_allowances(f"{TEAM_A}=system@team-a-*.vault.azure.net,shared.vault.azure.net")
    assert vault_allowed(allowed, TEAM_A, "", "team-a-prod.vault.azure.net") is None
    assert vault_allowed(allowed, TEAM_A, "", "Shared.Vault.Azure.Net") is None
    why = vault_allowed(allowed, TEAM_A, "", "team-b-prod.vault.azure.net")
    assert why is not None and "team-b-prod.vault.azure.net" in why
    any_vault = parse_allowances(f"{TEAM_A}=system")
    assert vault_allowed(any_vault, TEAM_A, "", "x.vault.azure.net") is None


@pytest.mark.parametrize(
    "text",
    [
        "no-equals-sign",
        "not-a-project=system",
        f"{TEAM_A}=not-an-identity",
        f"{TEAM_A}=system@",
        f"{TEAM_A}=system@https://x.vault.azure.net",
    ],
)
def test_a_setting_that_cannot_be_read_is_refused(text):
    with pytest.raises(AllowanceError, match=SETTING):
        parse_allowances(text)


def test_an_empty_setting_allows_nothing():
    assert parse_allowances("") == ()
    assert parse_allowances("  ;  ") == ()
