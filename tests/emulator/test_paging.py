"""Listing: maxresults, absolute nextLinks followed by the SDK, null on the last page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.emulator.conftest import vault_request


@pytest.fixture
def sixty(emulator):
    vault = emulator.vault()
    names = [f"secret-{i:02d}" for i in range(60)]
    for name in names:
        vault.set_secret(name, "v")
    return names


def test_sdk_follows_next_links_across_pages(emulator, client, sixty):
    emulator.reset_counts()
    pages = [list(page) for page in client.list_properties_of_secrets(max_page_size=7).by_page()]
    assert [len(p) for p in pages] == [7] * 8 + [4]
    assert [p.name for page in pages for p in page] == sixty
    counts = emulator.counts()
    assert counts["list"] == 9 + counts["challenge"]  # the client's first request is challenged
    assert counts["challenge"] == 1
    assert all(p.enabled and p.updated_on for page in pages for p in page)


def test_default_page_size_is_25(emulator, client, sixty):
    pages = [list(page) for page in client.list_properties_of_secrets().by_page()]
    assert [len(p) for p in pages] == [25, 25, 10]


def test_next_link_is_absolute_on_the_same_host_and_null_at_the_end(emulator, sixty):
    first = vault_request(emulator, "GET", "/secrets", params={"maxresults": 25}).json()
    link = urlsplit(first["nextLink"])
    assert f"{link.scheme}://{link.netloc}" == emulator.url
    assert link.path == "/secrets"
    query = parse_qs(link.query)
    assert query["api-version"] == ["7.5"]
    assert query["maxresults"] == ["25"]
    assert query["$skiptoken"]
    assert link.query.startswith("api-version=7.5&$skiptoken=")
    second = vault_request(emulator, "GET", first["nextLink"], api_version=None).json()
    third = vault_request(emulator, "GET", second["nextLink"], api_version=None).json()
    assert len(third["value"]) == 10
    assert "nextLink" in third
    assert third["nextLink"] is None


def test_list_items_carry_no_value_and_no_version(emulator, sixty):
    item = vault_request(emulator, "GET", "/secrets", params={"maxresults": 1}).json()["value"][0]
    assert "value" not in item
    assert item["id"] == f"{emulator.url}/secrets/secret-00"
    assert {"enabled", "created", "updated"} <= set(item["attributes"])


@pytest.mark.parametrize("maxresults", ["0", "26", "many"])
def test_maxresults_outside_1_to_25_is_refused(emulator, maxresults):
    response = vault_request(emulator, "GET", "/secrets", params={"maxresults": maxresults})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadParameter"


def test_bad_skiptoken_is_refused(emulator):
    response = vault_request(emulator, "GET", "/secrets", params={"$skiptoken": "!!!"})
    assert response.status_code == 400


def test_short_pages_still_reach_every_secret(emulator, client, sixty):
    emulator.faults.short_pages = True
    pages = [list(page) for page in client.list_properties_of_secrets(max_page_size=10).by_page()]
    assert max(len(p) for p in pages) == 5  # fewer than asked for, yet a nextLink
    assert pages[-1] == []  # and an empty last page
    assert [p.name for page in pages for p in page] == sixty


def test_paging_is_stable_when_secrets_change_between_pages(emulator, client, sixty):
    pages = client.list_properties_of_secrets(max_page_size=10).by_page()
    seen = [p.name for p in next(pages)]
    emulator.vault().set_secret("aaa-new-but-before-the-cursor", "v")
    emulator.vault().delete_secret("secret-59")
    seen += [p.name for page in pages for p in page]
    assert seen == sixty[:-1]


def test_versions_are_paged(emulator, client):
    for i in range(30):
        emulator.vault().set_secret("many-versions", str(i))
    pages = [list(p) for p in client.list_properties_of_secret_versions("many-versions").by_page()]
    assert [len(p) for p in pages] == [25, 5]
    assert len({p.version for page in pages for p in page}) == 30
    assert all(p.id.startswith(f"{emulator.url}/secrets/many-versions/") for p in pages[0])


def test_versions_of_a_missing_secret_list_nothing(client):
    assert list(client.list_properties_of_secret_versions("absent")) == []


def test_deleted_secrets_are_paged(emulator, instant_windows, client):
    vault = emulator.vault()
    for i in range(30):
        vault.set_secret(f"gone-{i:02d}", "v")
        vault.delete_secret(f"gone-{i:02d}")
    pages = [list(p) for p in client.list_deleted_secrets(max_page_size=25).by_page()]
    assert [len(p) for p in pages] == [25, 5]
    assert all(d.recovery_id and d.deleted_date for page in pages for d in page)
