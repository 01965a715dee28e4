"""Dataset assets: what an owner declares about data that never leaves its node.

The owner is always the caller's org. A dataset is addressed as `<owner>/<name>`; functions that
change one take the bare name (or `<owner>/<name>` of the caller's own org).
"""

from __future__ import annotations

from typing import Any

from alliance.models import (
    Dataset,
    DatasetFilter,
    DatasetSpec,
    DatasetStatus,
    Job,
    JobState,
    check_dataset_name,
)
from chaincode import keys
from chaincode.context import Caller, Context, parse_request
from chaincode.errors import Conflict, InvalidArgument, NotAuthorized, NotFound
from chaincode.stub import partial_key_range


def split_dataset_id(dataset_id: str) -> tuple[str, str]:
    """`org/name` -> (org, name), or InvalidArgument saying how to write it."""
    owner, sep, name = dataset_id.partition("/")
    if not sep or not owner or not name:
        raise InvalidArgument(
            f"dataset {dataset_id!r} must be written 'org/name' (e.g. 'bank/customers')"
        )
    return owner, _checked_name(name)


def _checked_name(name: str) -> str:
    try:
        return check_dataset_name(name)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc


def _own_dataset(ctx: Context, caller: Caller, name: str, action: str) -> Dataset:
    """The caller's org's dataset named `name` or `<org>/<name>`; refuses other owners."""
    if "/" in name:
        owner, bare = split_dataset_id(name)
        if owner != caller.org:
            raise NotAuthorized(
                f"only the owner of {name} ({owner}) may {action} it; you are {caller.org}"
            )
        name = bare
    else:
        _checked_name(name)
    dataset = ctx.get_record(keys.dataset(caller.org, name), Dataset)
    if dataset is None:
        raise NotFound(f"{caller.org} has no dataset {name!r}; register it with RegisterDataset")
    return dataset


def register_dataset(ctx: Context, spec_json: str) -> Dataset:
    caller = ctx.writer("register datasets")
    spec = parse_request(DatasetSpec, spec_json, "dataset")
    key = keys.dataset(caller.org, spec.name)
    existing = ctx.get_record(key, Dataset)
    if existing is not None:
        raise Conflict(
            f"{existing.id} is already registered (version {existing.version}, "
            f"{existing.status.value}); publish a change with NewDatasetVersion or choose "
            "another name"
        )
    _check_derivation(ctx, caller.org, spec)
    dataset = Dataset(
        id=f"{caller.org}/{spec.name}",
        owner=caller.org,
        name=spec.name,
        version=1,
        schema=list(spec.schema_),
        row_count=spec.row_count,
        fingerprint=spec.fingerprint,
        description=spec.description,
        tags=list(spec.tags),
        status=DatasetStatus.ACTIVE,
        registered_at=ctx.now,
        updated_at=ctx.now,
        updated_tx=ctx.tx_id,
        derived_from=spec.derived_from,
    )
    ctx.put_record(key, dataset)
    for tag in dataset.tags:
        ctx.put_index(keys.dataset_by_tag(tag, dataset.owner, dataset.name))
    ctx.emit("DatasetRegistered", _event(dataset))
    return dataset


def _check_derivation(ctx: Context, org: str, spec: DatasetSpec) -> None:
    """A dataset derived from a job output: the run completed with that output, and `org` is
    one of the output's recipients (only they hold it)."""
    link = spec.derived_from
    if link is None:
        return
    job = ctx.get_record(keys.job(link.job), Job)
    if job is None:
        raise NotFound(f"no job {link.job!r} to derive {spec.name!r} from; see ListJobs")
    result = job.results.get(str(link.run))
    if result is None or result.state != JobState.COMPLETED:
        raise Conflict(f"run {link.run} of {job.id} has not completed; nothing to derive from")
    if link.output not in result.output_digests:
        raise InvalidArgument(
            f"run {link.run} of {job.id} has no output {link.output!r}; it has: "
            f"{', '.join(sorted(result.output_digests)) or 'none'}"
        )
    if org not in job.outputs.get(link.output, []):
        raise NotAuthorized(
            f"{org} did not receive output {link.output!r} of {job.id}; only its recipients "
            f"({', '.join(job.outputs.get(link.output, []))}) may register data derived from it"
        )


def new_dataset_version(ctx: Context, name: str, spec_json: str) -> Dataset:
    caller = ctx.writer("publish dataset versions")
    dataset = _own_dataset(ctx, caller, name, "version")
    spec = parse_request(DatasetSpec, spec_json, "dataset")
    if spec.name != dataset.name:
        raise InvalidArgument(
            f"the body names dataset {spec.name!r} but the call names {dataset.name!r}; "
            "they must match"
        )
    if dataset.status == DatasetStatus.RETIRED:
        raise Conflict(f"{dataset.id} is retired; register a new dataset instead")
    _check_derivation(ctx, caller.org, spec)
    for tag in set(dataset.tags) - set(spec.tags):
        ctx.delete(keys.dataset_by_tag(tag, dataset.owner, dataset.name))
    for tag in set(spec.tags) - set(dataset.tags):
        ctx.put_index(keys.dataset_by_tag(tag, dataset.owner, dataset.name))
    updated = dataset.model_copy(
        update={
            "version": dataset.version + 1,
            "schema_": list(spec.schema_),
            "row_count": spec.row_count,
            "fingerprint": spec.fingerprint,
            "description": spec.description,
            "tags": list(spec.tags),
            "updated_at": ctx.now,
            "updated_tx": ctx.tx_id,
            "derived_from": spec.derived_from,
        }
    )
    ctx.put_record(keys.dataset(dataset.owner, dataset.name), updated)
    ctx.emit("DatasetVersioned", _event(updated))
    return updated


def retire_dataset(ctx: Context, name: str) -> Dataset:
    caller = ctx.writer("retire datasets")
    dataset = _own_dataset(ctx, caller, name, "retire")
    if dataset.status == DatasetStatus.RETIRED:
        raise Conflict(f"{dataset.id} is already retired")
    retired = dataset.model_copy(
        update={"status": DatasetStatus.RETIRED, "updated_at": ctx.now, "updated_tx": ctx.tx_id}
    )
    ctx.put_record(keys.dataset(dataset.owner, dataset.name), retired)
    ctx.emit("DatasetRetired", _event(retired))
    return retired


def _event(dataset: Dataset) -> dict[str, Any]:
    return {"dataset": dataset.id, "owner": dataset.owner, "version": dataset.version,
            "state": dataset.status.value}


def get_dataset(ctx: Context, dataset_id: str) -> Dataset:
    ctx.reader()
    owner, name = split_dataset_id(dataset_id)
    dataset = ctx.get_record(keys.dataset(owner, name), Dataset)
    if dataset is None:
        raise NotFound(f"no dataset {dataset_id!r} is registered; see ListDatasets")
    return dataset


def list_datasets(ctx: Context, filter_json: str = "{}") -> list[Dataset]:
    """Datasets by owner and/or tag (index range scans); retired ones only when asked."""
    ctx.reader()
    wanted = parse_request(DatasetFilter, filter_json or "{}", "dataset filter")
    if wanted.tag is not None:
        prefix = [wanted.tag, wanted.owner] if wanted.owner else [wanted.tag]
        found = []
        for _tag, owner, name in ctx.scan_index(partial_key_range("dataset~tag", prefix)):
            dataset = ctx.get_record(keys.dataset(owner, name), Dataset)
            if dataset is not None:
                found.append(dataset)
    else:
        found = list(ctx.scan_records(keys.datasets_range(wanted.owner), Dataset))
    if not wanted.include_retired:
        found = [d for d in found if d.status == DatasetStatus.ACTIVE]
    return sorted(found, key=lambda d: d.id)


def dataset_history(ctx: Context, dataset_id: str) -> list[dict[str, Any]]:
    """Every committed version of the dataset record, newest first."""
    ctx.reader()
    owner, name = split_dataset_id(dataset_id)
    history = ctx.history(keys.dataset(owner, name))
    if not history:
        raise NotFound(f"no dataset {dataset_id!r} has ever been registered")
    return history
