"""docs/api.md is generated from protos/: the checked-in page must match a fresh one."""

from __future__ import annotations

from contract import api_docs, descriptors


def test_the_api_page_is_up_to_date():
    fresh = api_docs.render(descriptors.load())
    checked_in = (descriptors.ROOT / "docs" / "api.md").read_text()
    assert checked_in == fresh, "docs/api.md is stale: run `make docs` and commit it"


def test_the_api_page_shows_every_rpc_with_its_errors():
    contract = descriptors.load()
    page = api_docs.render(contract)
    for service in contract.services:
        for method in service.methods:
            assert f"#### {service.name}.{method.name}\n" in page
    assert page.count("Errors") >= sum(len(s.methods) for s in contract.services)
