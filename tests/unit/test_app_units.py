"""Pure pieces of the application layer and the CLI: id prefixes, times, global options, error
mapping, CSV delimiter and thousands separators."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.app.clock import relative, when
from alliance.app.errors import BadInput, FileMissing, Refused, in_cli_words, to_app_error
from alliance.app.ids import unique_prefix
from alliance.cli.main import hoist_globals

JOBS = ["job-14f1aaaaaaaaaaaa", "job-14f2bbbbbbbbbbbb", "job-9999cccccccccccc"]


@pytest.mark.parametrize("text", ["job-9", "9999", "job-9999cccccccccccc", "14f1"])
def test_a_unique_prefix_names_its_job(text: str) -> None:
    assert unique_prefix(text, JOBS, "job", "alliance job list") in JOBS


def test_an_ambiguous_prefix_lists_the_candidates() -> None:
    with pytest.raises(BadInput, match="job-14f1aaaaaaaaaaaa, job-14f2bbbbbbbbbbbb"):
        unique_prefix("job-14f", JOBS, "job", "alliance job list")


def test_an_unknown_prefix_names_the_command_that_lists_ids() -> None:
    with pytest.raises(BadInput, match="alliance job list"):
        unique_prefix("job-0", JOBS, "job", "alliance job list")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10, "now"), (23 * 3600 + 50 * 60, "in 24 h"), (-300, "5 min ago"), (3 * 86400, "in 3 d")],
)
def test_relative_durations(seconds: float, text: str) -> None:
    assert relative(seconds) == text


def test_when_is_local_time_with_the_distance() -> None:
    shown = when(1_000_000 + 3600 * 5, now=1_000_000)
    assert shown.endswith("(in 5 h)") and shown[:4].isdigit() and ":" in shown


@pytest.mark.parametrize(
    "argv",
    [
        ["--dir", "n", "--as", "bank", "--json", "job", "list"],
        ["job", "list", "--dir", "n", "--as", "bank", "--json"],
        ["job", "--as=bank", "list", "--json", "--dir=n"],
    ],
)
def test_global_options_are_accepted_in_either_position(argv: list[str]) -> None:
    from alliance.cli.main import build_parser

    args = build_parser().parse_args(hoist_globals(argv))
    assert (str(args.dir), args.org, args.json, args.command) == ("n", "bank", True, "list")


def test_contract_function_names_become_cli_commands() -> None:
    text = in_cli_words("no job 'x'; see ListJobs; publish a change with NewDatasetVersion")
    assert "ListJobs" not in text and "`alliance job list`" in text
    assert "`alliance dataset update`" in text


def test_a_contract_refusal_maps_to_refused_in_cli_words() -> None:
    from network.errors import ContractRejected

    rejected = ContractRejected(
        "x", error_type="NotFound", reason="no job 'j'; see ListJobs", status=404
    )
    mapped = to_app_error(rejected)
    assert isinstance(mapped, Refused) and mapped.exit_code == 1
    assert "`alliance job list`" in str(mapped)


def test_a_missing_data_file_is_file_missing(tmp_path: Path) -> None:
    from alliance.datafile import infer_schema

    with pytest.raises(Exception) as caught:
        infer_schema(tmp_path / "nope.csv")
    mapped = to_app_error(caught.value)
    assert isinstance(mapped, FileMissing) and mapped.exit_code == 4


def test_semicolon_delimited_files_are_read(tmp_path: Path) -> None:
    from alliance.datafile import infer_schema, read_column

    path = tmp_path / "semi.csv"
    path.write_text("id;balance\nc1;100\nc2;250\n")
    assert [(c.name, c.type) for c in infer_schema(path)] == [
        ("id", "string"),
        ("balance", "integer"),
    ]
    assert list(read_column(path, "balance")) == [100, 250]


def test_thousands_separators_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    from alliance.datafile import infer_schema
    from alliance.errors import DatasetFileError

    path = tmp_path / "amounts.csv"
    path.write_text('id,amount\nc1,"1,234.50"\nc2,"12.00"\n')
    with pytest.raises(DatasetFileError, match=r"data row 1.*thousands separators"):
        infer_schema(path)


def test_a_declared_type_overrides_inference(tmp_path: Path) -> None:
    from alliance.datafile import infer_schema

    path = tmp_path / "amounts.csv"
    path.write_text('id,amount\n1,"1,234.50"\n2,7\n')
    schema = infer_schema(path, {"amount": "string", "id": "decimal"})
    assert [(c.name, c.type) for c in schema] == [("id", "decimal"), ("amount", "string")]


def _help(*argv: str) -> str:
    import contextlib
    import io

    from alliance.cli.main import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return buffer.getvalue()


def test_help_names_the_passphrase_variable_and_every_exit_code() -> None:
    text = _help()
    assert "ALLIANCE_PASSPHRASE" in text
    for code in ("0", "1", "2", "3", "4", "5", "6"):
        assert f"\n  {code} " in text


def test_job_request_help_lists_protocols_ops_and_parameters() -> None:
    text = _help("job", "request")
    for word in ("ORG/DATASET:COLUMN", "stats", "psi", "op (required)", "histogram", "bins",
                 "normalize", "engine", "ALLIANCE_PASSPHRASE"):
        assert word in text, word


@pytest.mark.parametrize("command", ["reject", "revoke"])
def test_reject_and_revoke_help_say_the_reason_is_public(command: str) -> None:
    text = " ".join(_help("job", command, "job-1").split())
    assert "public: every member and auditor reads it on the ledger" in text


def test_fingerprinting_reports_rows_read(tmp_path: Path) -> None:
    from alliance.app.datasets import fingerprint_source
    from node.sources import FileSource

    path = tmp_path / "rows.csv"
    path.write_text("id,v\n" + "".join(f"r{i},{i}\n" for i in range(70000)))
    seen: list[tuple[str, float]] = []
    fp = fingerprint_source(FileSource(path), lambda p: seen.append((p.task, p.done)))
    assert fp.row_count == 70000
    counts = [done for task, done in seen if task.startswith("fingerprinting")]
    assert counts[-1] == 70000 and len(counts) >= 3  # batches of 65536 rows, then done


def test_json_errors_go_to_stderr_as_objects(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from alliance.cli.main import main

    code = main(["job", "request", "--json", "--protocol", "stats"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert json.loads(err)["exit_code"] == 2


def test_a_bad_parameter_is_refused_before_anything_is_signed() -> None:
    from alliance.app.jobs import build_request

    with pytest.raises(BadInput, match=r"median.*sum, mean") as caught:
        build_request("stats", ["bank/c:x"], {"op": "median"}, {"result": ["bank"]}, 3600)
    assert "job request --help" in str(caught.value)


def test_a_given_delimiter_is_kept_in_the_location_the_node_reads(tmp_path: Path) -> None:
    from node.sources import FileSource, file_path_of, open_source

    path = tmp_path / "colon.csv"
    path.write_text("id:amount\nc1:40\nc2:2\n")  # ':' is not sniffed: only --delimiter reads it
    source = FileSource(path, (("amount", "decimal"),), ":")
    assert file_path_of(source.location) == str(path)
    again = open_source(source.location)
    assert again == source
    assert [(c.name, c.type) for c in again.schema()] == [("id", "string"), ("amount", "decimal")]
    assert list(again.read_column("amount")) == [40.0, 2.0]
    assert again.fingerprint().fingerprint == source.fingerprint().fingerprint


def test_an_unknown_delimiter_is_refused() -> None:
    from alliance.app.datasets import _delimiter

    with pytest.raises(BadInput, match="tab"):
        _delimiter("&")
    assert _delimiter("tab") == "\t"


def test_a_progress_callback_cancels_fingerprinting(tmp_path: Path) -> None:
    from alliance.app import Cancelled
    from alliance.app.datasets import fingerprint_source
    from node.sources import FileSource

    path = tmp_path / "rows.csv"
    path.write_text("id,v\n" + "".join(f"r{i},{i}\n" for i in range(70000)))

    def stop(report: object) -> None:
        if getattr(report, "done", 0) > 0:
            raise Cancelled("stopped by the user")

    with pytest.raises(Cancelled):
        fingerprint_source(FileSource(path), stop)
