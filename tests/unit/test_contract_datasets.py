"""Dataset assets: register, version, retire, get, list, history."""

from __future__ import annotations

import json

import pytest
from contract_helpers import Alliance, dataset_spec, digest, founded


@pytest.fixture
def a() -> Alliance:
    return founded()


def test_register_records_owner_from_caller(a: Alliance) -> None:
    dataset = a.ok("RegisterDataset", dataset_spec("loans", tags=["credit", "finance"]),
                   by="bank")
    assert dataset["id"] == "bank/loans"
    assert dataset["owner"] == "bank"
    assert dataset["version"] == 1
    assert dataset["status"] == "active"
    assert dataset["schema"] == [{"name": "id", "type": "string"},
                                 {"name": "amount", "type": "integer"}]
    assert dataset["tags"] == ["credit", "finance"]
    assert a.event() == ("DatasetRegistered", {"dataset": "bank/loans", "owner": "bank",
                                               "version": 1, "state": "active"})


def test_owner_field_in_body_is_refused(a: Alliance) -> None:
    body = json.loads(dataset_spec("loans"))
    body["owner"] = "telecom"
    a.refused("RegisterDataset", json.dumps(body), by="bank", error="InvalidArgument")


def test_get_dataset_by_any_member_or_auditor(a: Alliance) -> None:
    assert a.ok("GetDataset", "bank/customers", by="regulator")["fingerprint"] == digest(
        "customers-v1")
    assert a.ok("GetDataset", "bank/customers", by=a.org("telecom").peer)["owner"] == "bank"


@pytest.mark.parametrize(
    "overrides",
    [
        {"row_count": 10.5},
        {"row_count": 1e3},
        {"row_count": "1000"},
        {"row_count": -1},
        {"fingerprint": "abc"},
        {"fingerprint": "sha256:" + "A" * 64},
        {"fingerprint": "md5:" + "a" * 64},
        {"schema": [{"name": "id", "type": "float"}]},
        {"schema": [{"name": "id", "type": "string"}, {"name": "id", "type": "integer"}]},
        {"schema": [{"name": "bad name", "type": "string"}]},
        {"schema": []},
        {"name": "Customers!"},
        {"name": "x" * 80},
        {"tags": ["Not A Tag"]},
        {"tags": ["a", "a"]},
        {"description": 5},
        {"extra": "field"},
    ],
)
def test_malformed_registration_is_invalid_argument(a: Alliance, overrides: dict) -> None:
    name = overrides.pop("name", "loans")
    a.refused("RegisterDataset", dataset_spec(name, **overrides), by="bank",
              error="InvalidArgument")


def test_registration_that_is_not_json_is_invalid_argument(a: Alliance) -> None:
    a.refused("RegisterDataset", "[1, 2", by="bank", error="InvalidArgument")


def test_register_twice_is_conflict(a: Alliance) -> None:
    response = a.refused("RegisterDataset", dataset_spec("customers"), by="bank",
                         error="Conflict")
    assert "NewDatasetVersion" in response.message


def test_same_name_in_another_org_is_a_different_dataset(a: Alliance) -> None:
    assert a.ok("RegisterDataset", dataset_spec("customers"), by="telecom")["id"] == (
        "telecom/customers")


def test_register_needs_admin_cert(a: Alliance) -> None:
    a.refused("RegisterDataset", dataset_spec("loans"), by=a.org("bank").peer,
              error="NotAuthorized")


def test_auditor_cannot_register(a: Alliance) -> None:
    a.refused("RegisterDataset", dataset_spec("reports"), by="regulator", error="NotAuthorized")


def test_new_version_bumps_version_and_fingerprint(a: Alliance) -> None:
    spec = dataset_spec("customers", fingerprint=digest("customers-v2"), row_count=1200)
    updated = a.ok("NewDatasetVersion", "customers", spec, by="bank")
    assert (updated["version"], updated["row_count"]) == (2, 1200)
    assert updated["fingerprint"] == digest("customers-v2")
    assert a.event()[0] == "DatasetVersioned"


def test_new_version_keeps_old_jobs_pinned_to_old_fingerprint(a: Alliance) -> None:
    job = a.approved_job()
    a.ok("NewDatasetVersion", "customers",
         dataset_spec("customers", fingerprint=digest("customers-v2")), by="bank")
    pinned = a.ok("GetJob", job["id"])["inputs"][0]
    assert (pinned["version"], pinned["fingerprint"]) == (1, digest("customers-v1"))


def test_new_version_with_mismatched_name_is_invalid(a: Alliance) -> None:
    a.refused("NewDatasetVersion", "customers", dataset_spec("loans"), by="bank",
              error="InvalidArgument")


def test_new_version_of_another_orgs_dataset_is_refused(a: Alliance) -> None:
    response = a.refused("NewDatasetVersion", "bank/customers", dataset_spec("customers"),
                         by="telecom", error="NotAuthorized")
    assert response.message == ("NotAuthorized: only the owner of bank/customers (bank) may "
                                "version it; you are telecom")


def test_new_version_of_missing_dataset_is_not_found(a: Alliance) -> None:
    a.refused("NewDatasetVersion", "customers", dataset_spec("customers"), by="telecom",
              error="NotFound")


def test_retire_by_owner(a: Alliance) -> None:
    retired = a.ok("RetireDataset", "bank/customers", by="bank")
    assert retired["status"] == "retired"
    assert a.event() == ("DatasetRetired", {"dataset": "bank/customers", "owner": "bank",
                                            "version": 1, "state": "retired"})


def test_retire_of_another_orgs_dataset_is_refused(a: Alliance) -> None:
    a.refused("RetireDataset", "bank/customers", by="telecom", error="NotAuthorized")
    assert a.ok("GetDataset", "bank/customers")["status"] == "active"


def test_retire_twice_is_conflict(a: Alliance) -> None:
    a.ok("RetireDataset", "customers", by="bank")
    a.refused("RetireDataset", "customers", by="bank", error="Conflict")


def test_retired_dataset_cannot_be_versioned(a: Alliance) -> None:
    a.ok("RetireDataset", "customers", by="bank")
    a.refused("NewDatasetVersion", "customers", dataset_spec("customers"), by="bank",
              error="Conflict")


def test_auditor_cannot_retire(a: Alliance) -> None:
    a.refused("RetireDataset", "bank/customers", by="regulator", error="NotAuthorized")


def ids(datasets: list[dict]) -> list[str]:
    return [d["id"] for d in datasets]


def test_list_all_active(a: Alliance) -> None:
    assert ids(a.ok("ListDatasets", by="regulator")) == [
        "bank/customers", "platform/users", "telecom/subscribers"
    ]


def test_list_by_owner(a: Alliance) -> None:
    a.register("bank", "loans")
    assert ids(a.ok("ListDatasets", '{"owner": "bank"}')) == ["bank/customers", "bank/loans"]


def test_list_by_tag(a: Alliance) -> None:
    assert ids(a.ok("ListDatasets", '{"tag": "web"}')) == ["platform/users"]
    assert ids(a.ok("ListDatasets", '{"tag": "finance", "owner": "telecom"}')) == [
        "telecom/subscribers"
    ]


def test_list_by_tag_follows_new_version_tags(a: Alliance) -> None:
    a.ok("NewDatasetVersion", "customers", dataset_spec("customers", tags=["kyc"]), by="bank")
    assert "bank/customers" not in ids(a.ok("ListDatasets", '{"tag": "finance"}'))
    assert ids(a.ok("ListDatasets", '{"tag": "kyc"}')) == ["bank/customers"]


def test_list_hides_retired_unless_asked(a: Alliance) -> None:
    a.ok("RetireDataset", "customers", by="bank")
    assert "bank/customers" not in ids(a.ok("ListDatasets"))
    assert "bank/customers" in ids(a.ok("ListDatasets", '{"include_retired": true}'))


def test_list_with_bad_filter_is_invalid(a: Alliance) -> None:
    a.refused("ListDatasets", '{"colour": "red"}', error="InvalidArgument")


def test_list_by_tag_uses_the_tag_index(a: Alliance) -> None:
    scans: list[str] = []
    original = a.stub.get_state_by_range

    def spy(start: str, end: str):  # type: ignore[no-untyped-def]
        scans.append(start)
        return original(start, end)

    a.stub.get_state_by_range = spy  # type: ignore[method-assign]
    a.ok("ListDatasets", '{"tag": "web"}')
    a.ok("ListDatasets", '{"owner": "bank"}')
    assert scans == ["\x00dataset~tag\x00web\x00", "\x00dataset\x00bank\x00"]


def test_history_is_newest_first(a: Alliance) -> None:
    a.ok("NewDatasetVersion", "customers",
         dataset_spec("customers", fingerprint=digest("customers-v2")), by="bank")
    a.ok("RetireDataset", "customers", by="bank")
    history = a.ok("DatasetHistory", "bank/customers", by="regulator")
    assert [(h["value"]["version"], h["value"]["status"]) for h in history] == [
        (2, "retired"), (2, "active"), (1, "active")
    ]
    assert all(set(h) == {"tx_id", "timestamp", "is_delete", "value"} for h in history)


def test_get_missing_or_malformed_dataset(a: Alliance) -> None:
    a.refused("GetDataset", "bank/loans", error="NotFound")
    a.refused("GetDataset", "customers", error="InvalidArgument")
    a.refused("DatasetHistory", "bank/loans", error="NotFound")
