"""The importer's checks of the file (issue 22, item 4): the dry run's bad rows and repeated
unique values, the schema options, the ceiling under a bulk budget, the summary's refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import leadsq_async as lsq
from leadsq_async._cli import main
from leadsq_async.testing import FakeLeadSquared

from .test_cli import SCALED, cli, importing, write_csv


@pytest.fixture
def fake() -> FakeLeadSquared:
    """A fake with a scaled window (25 calls per 0.25 s)."""
    return FakeLeadSquared(rate_limit=lsq.RateLimit.parse(SCALED))


@pytest.fixture
def url(fake: FakeLeadSquared) -> Iterator[str]:
    """The fake served by uvicorn in a thread."""
    with fake.serve_in_thread() as base_url:
        yield base_url


def dry_run(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> tuple[int, str]:
    """``import --dry-run`` in this process: its exit code and what it printed."""
    code = main(["import", str(path), "--dry-run", *options])
    return code, capsys.readouterr().out


def trial_file(path: Path) -> Path:
    """The trial's file: one email 15 times (in any case), a phone twice, two bad rows."""
    lines = ["FirstName,EmailAddress,Phone"]
    for i in range(15):
        lines.append(f"Dup{i},{'User3@Example.com' if i % 2 else 'user3@example.com'},")
    lines += [
        "Ann,ann@example.com,+91 98765 43210",  # line 17
        ",,",  # line 18: no name, email or phone
        "Bo,bo@example.com,91-9876543210",  # line 19: Ann's phone, written otherwise
        "Cy,cy@example.com,,extra",  # line 20: does not parse
        "Di,di@example.com,9876543210",  # other digits: another phone
    ]
    return write_csv(path, lines)


def test_dry_run_reports_each_bad_row_and_each_repeated_unique_value_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--dry-run: bad rows with line and rule; a repeated email or phone once, with its lines."""
    code, shown = dry_run(capsys, trial_file(tmp_path / "leads.csv"), "--op", "create")
    assert code == 1
    assert "line 18: ValidationError: fields: must not be empty" in shown
    assert "line 20: ParseError:" in shown
    assert "unique values repeated within the file: 2 " in shown
    assert (
        "  EmailAddress 'user3@example.com' on 15 lines: 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 "
        "and 5 more\n" in shown
    )
    assert "  Phone '+91 98765 43210' on 2 lines: 17, 19\n" in shown
    assert shown.count("user3@example.com") + shown.count("User3@Example.com") == 1
    assert "9876543210'" not in shown


def test_repeats_fail_a_create_dry_run_only_and_activities_name_leads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A repeat is reported for an upsert without failing it; an activity file has none."""
    path = write_csv(
        tmp_path / "leads.csv",
        ["FirstName,EmailAddress", "Ann,ann@example.com", "Ann,ANN@example.com"],
    )
    code, shown = dry_run(capsys, path, "--op", "upsert")
    assert code == 0
    assert "EmailAddress 'ann@example.com' on 2 lines: 2, 3" in shown
    code, shown = dry_run(capsys, path, "--op", "create")
    assert code == 1
    visits = write_csv(
        tmp_path / "visits.csv",
        ["EmailAddress,ActivityEvent", "ann@example.com,201", "ann@example.com,201"],
    )
    code, shown = dry_run(capsys, visits, "--op", "activity")
    assert code == 0
    assert "repeated" not in shown


def test_schema_options_and_lsq_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--schema FILE, --no-schema and LSQ_SCHEMA reach the import's config, checked; without
    any of them the account's fields are checked."""
    from leadsq_async._cli import _import_config, build_parser

    source = write_csv(tmp_path / "leads.csv", ["FirstName", "Ann"])
    saved = tmp_path / "fields.json"
    saved.write_text(json.dumps([{"SchemaName": "EmailAddress", "DataType": "Email"}]))
    monkeypatch.delenv("LSQ_SCHEMA", raising=False)

    def config(*options: str) -> object:
        args = build_parser().parse_args(
            ["import", str(source), "--op", "create", "--dry-run", *options]
        )
        return _import_config(args).schema

    assert config() == "account"  # the default
    assert config("--schema", "account") == "account"
    assert config("--schema", str(saved)) == saved
    assert config("--no-schema") is None
    monkeypatch.setenv("LSQ_SCHEMA", "none")
    assert config() is None
    monkeypatch.setenv("LSQ_SCHEMA", "")
    assert config() == "account"
    monkeypatch.setenv("LSQ_SCHEMA", "account")
    assert config() == "account"
    monkeypatch.setenv("LSQ_SCHEMA", str(saved))
    assert config() == saved
    assert config("--no-schema") is None  # the command line wins
    monkeypatch.delenv("LSQ_SCHEMA")

    done = cli("import", str(source), "--op", "create", "--schema", str(tmp_path / "no.json"))
    assert done.returncode == 2
    assert f"--schema: {tmp_path / 'no.json'}: No such file or directory" in done.stderr
    (tmp_path / "bad.json").write_text("<html>")
    done = cli("import", str(source), "--op", "create", "--schema", str(tmp_path / "bad.json"))
    assert done.returncode == 2
    assert "is not a saved LeadsMetaData.Get answer (not JSON)" in done.stderr
    done = cli("import", str(source), "--op", "create", "--schema", str(saved), "--no-schema")
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


def test_the_resume_command_keeps_the_options_but_not_the_secret() -> None:
    """The printed --resume command repeats the import's options, never the secret key."""
    from leadsq_async._cli import _resume_command

    argv = ["import", "my leads.csv", "--op", "create", "--secret-key", "S3CRET", "--overwrite"]
    argv += ["--secret=OTHER", "--rate", "25/5"]
    assert _resume_command(argv) == (
        "leadsq-async import 'my leads.csv' --op create --rate 25/5 --resume"
    )
    assert _resume_command(["import", "a.csv", "--op", "create", "--resume"]) == (
        "leadsq-async import a.csv --op create --resume"
    )


@pytest.mark.parametrize(
    ("rate", "bulk", "spill", "ceiling"),
    [
        ("25/5", None, "interactive", 250.0),  # general calls of 50 rows
        ("25/5", "1/5", "interactive", 10.0),  # bulk calls of 50 rows
        ("25/5", "1/5", "all", 14.8),  # plus a row per spare general call
        ("25/5", "100/5", "interactive", 250.0),  # a bulk call spends a general one too
        ("none", "1/5", "interactive", 10.0),
        ("none", "1/5", "all", None),
    ],
)
def test_the_ceiling_uses_the_bulk_budget_when_one_is_set(
    rate: str, bulk: str | None, spill: str, ceiling: float | None, tmp_path: Path
) -> None:
    """The progress line's and the summary's ceiling: rows/s under both budgets and the spill."""
    from leadsq_async._cli import _import_config, build_parser
    from leadsq_async._cli._display import Tally, progress_text
    from leadsq_async._cli._summary import throughput

    source = write_csv(tmp_path / "leads.csv", ["FirstName", "Ann"])
    options = ["--rate", rate, "--spill", spill] + (["--bulk-rate", bulk] if bulk else [])
    args = build_parser().parse_args(
        ["import", str(source), "--op", "create", "--dry-run", *options]
    )
    found = _import_config(args).ceiling
    assert found == (None if ceiling is None else pytest.approx(ceiling))
    tally = Tally(total=100, ceiling=found)
    tally.first_call, tally.last_answer, tally.finished = 0.0, 10.0, True
    tally.answered_by_calls = 100
    stats = lsq.Stats({"Lead/Bulk/Create": lsq.EndpointStats(2, 100)}, 0, 0, 0, 0, 0.0)
    figure = "no" if ceiling is None else f"{ceiling:.0f}"
    assert f"rows/s of {figure} ceiling" in progress_text(tally, stats)
    if ceiling is not None:
        assert f"of a {ceiling:.0f} rows/s ceiling" in throughput(tally, stats)


def test_the_dry_run_times_the_calls_at_the_bulk_budget(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With --bulk-rate 1/5, 120 creates (3 calls) take about 15 s, not under 1 s."""
    rows = [f"Lead{i},lead{i}@example.com" for i in range(120)]
    path = write_csv(tmp_path / "leads.csv", ["FirstName,EmailAddress", *rows])
    code, shown = dry_run(capsys, path, "--op", "create", "--rate", "25/5", "--bulk-rate", "1/5")
    assert code == 0
    assert "(calls: at least 3, up to 50 rows each, about 15 s at 1/5)" in shown


def test_the_summary_counts_rows_refused_before_sending_and_by_the_service(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """A row the client refuses and one the service refuses are counted apart."""
    fake.store.insert({"EmailAddress": "taken@example.com", "FirstName": "Old"})
    source = write_csv(
        tmp_path / "leads.csv",
        [
            "FirstName,EmailAddress",
            "Ann,ann@example.com",
            ",",  # refused before sending: no name, email or phone
            "Bo,bo@example.com,extra",  # does not parse: refused before sending too
            "Cy,taken@example.com",  # refused by the service: the email is taken
        ],
    )
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, source, results), "--op", "create")
    assert done.returncode == 1, done.stderr
    assert re.search(
        r"^rows refused before sending: 2, refused by the service: 1$", done.stdout, re.M
    )


def _bad_rows_file(path: Path) -> Path:
    """Good rows, an email that is no email (line 3) and an age that is no number (line 4)."""
    return write_csv(
        path,
        [
            "FirstName,EmailAddress,mx_Age",
            "Ann,ann@example.com,31",
            "Bo,user10-at-example.com,40",
            "Cy,cy@example.com,abc",
            "Di,di@example.com,",
        ],
    )


def test_the_dry_run_checks_rows_against_saved_fields(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--dry-run --schema FILE: each row that breaks a field's rule is named with its line."""
    saved = tmp_path / "fields.json"
    saved.write_text(
        json.dumps(
            [
                {"SchemaName": "FirstName", "DataType": "Text"},
                {"SchemaName": "EmailAddress", "DataType": "Email"},
                {"SchemaName": "mx_Age", "DataType": "Number"},
            ]
        )
    )
    source = _bad_rows_file(tmp_path / "leads.csv")
    code, shown = dry_run(capsys, source, "--op", "create", "--schema", str(saved))
    assert code == 1
    assert f"rows checked against the fields saved in {saved}" in shown
    assert "would be sent: 2" in shown
    assert re.search(r"line 3: ValidationError: EmailAddress\b.*user10-at-example\.com", shown)
    assert re.search(r"line 4: ValidationError: mx_Age\b.*abc", shown)
    code, shown = dry_run(capsys, source, "--op", "create", "--no-schema")
    assert code == 0  # without the fields, only the client's own checks: all four pass
    assert "would be sent: 4" in shown


def _rows_received(fake: FakeLeadSquared) -> int:
    """The rows of every write the fake received (bulk or single)."""
    return sum(e.rows for e in fake.ledger.entries if e.endpoint != "LeadsMetaData.Get")


def test_an_import_checks_the_accounts_fields_by_default_and_sends_no_bad_row(
    url: str, fake: FakeLeadSquared, tmp_path: Path
) -> None:
    """No schema option: one metadata call, the bad rows refused at the call and never sent
    (the fake receives the good rows only); --no-schema sends them, the service refuses them."""
    from leadsq_async.testing import Field, LeadSchema

    fake.schema = LeadSchema([Field("mx_Age", "Number")])
    source = _bad_rows_file(tmp_path / "leads.csv")
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, source, results), "--op", "create")
    assert done.returncode == 1, done.stderr
    assert re.search(
        r"^rows refused before sending: 2, refused by the service: 0$", done.stdout, re.M
    )
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    refused = {line["line"]: line for line in lines if line["status"] != "ok"}
    assert sorted(refused) == [3, 4]
    assert {r["error_type"] for r in refused.values()} == {"ValidationError"}
    assert sorted(lead["EmailAddress"] for lead in fake.store.all()) == [
        "ann@example.com",
        "di@example.com",
    ]
    assert fake.ledger.calls("LeadsMetaData.Get") == 1
    assert _rows_received(fake) == 2
    assert re.search(
        r"^calls: 2 \(2\.0 rows per call, 1 for the account's fields\)", done.stdout, re.M
    )

    fake.store.clear()
    fake.ledger.clear()
    done = cli(*importing(url, source, results), "--op", "create", "--overwrite", "--no-schema")
    assert done.returncode == 1, done.stderr
    assert re.search(
        r"^rows refused before sending: 0, refused by the service: 2$", done.stdout, re.M
    )
    assert fake.ledger.calls("LeadsMetaData.Get") == 0
    assert _rows_received(fake) == 4  # the bad rows reached the service, which refused them
    assert "account's fields" not in done.stdout


def test_against_a_fake_without_fields_the_import_says_once_that_rows_go_unchecked(
    url: str, fake: FakeLeadSquared, tmp_path: Path
) -> None:
    """A fake without a schema has no LeadsMetaData.Get: one warning names why, every row is
    sent unchecked and imported."""
    source = _bad_rows_file(tmp_path / "leads.csv")
    done = cli(*importing(url, source, tmp_path / "results.jsonl"), "--op", "create")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "LeadsMetaData.Get" in line]
    assert len(said) == 1, done.stderr
    assert "account's lead fields" in said[0]
    assert "404" in said[0]
    assert "rows are sent unchecked" in said[0]
    assert fake.store.count() == 4
    assert fake.ledger.calls("LeadsMetaData.Get") == 1


def test_a_dry_run_without_keys_runs_every_offline_check_and_says_the_fields_were_not(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--dry-run by default, no keys: the client's checks and the repeats still run, and one
    note says the account's fields were not checked and how to check them."""
    for name in ("LSQ_ACCESS_KEY", "LSQ_SECRET_KEY", "LSQ_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    code, shown = dry_run(capsys, trial_file(tmp_path / "leads.csv"), "--op", "create")
    assert code == 1
    assert "line 18: ValidationError" in shown
    assert "EmailAddress 'user3@example.com' on 15 lines" in shown
    notes = [line for line in shown.splitlines() if "account's lead fields" in line]
    assert len(notes) == 1
    assert notes[0].startswith("note: the rows were NOT checked against the account's lead")
    assert "LSQ_ACCESS_KEY and LSQ_SECRET_KEY" in notes[0]
    assert "--schema FILE" in notes[0]
    code, shown = dry_run(
        capsys, trial_file(tmp_path / "leads.csv"), "--op", "create", "--no-schema"
    )
    assert "NOT checked" not in shown  # asked not to: nothing to say


def test_a_dry_run_with_keys_checks_the_accounts_fields_with_one_call(
    url: str, fake: FakeLeadSquared, tmp_path: Path
) -> None:
    """--dry-run by default, with keys: one LeadsMetaData.Get call and no write; each bad row
    named with its line and the field's rule."""
    from leadsq_async.testing import Field, LeadSchema

    fake.schema = LeadSchema([Field("mx_Age", "Number")])
    source = _bad_rows_file(tmp_path / "leads.csv")
    done = cli(*importing(url, source, tmp_path / "results.jsonl"), "--op", "create", "--dry-run")
    assert done.returncode == 1, done.stderr
    assert "rows checked against the account's fields (one LeadsMetaData.Get call)" in done.stdout
    assert re.search(r"line 3: ValidationError: EmailAddress\b", done.stdout)
    assert re.search(r"line 4: ValidationError: mx_Age\b", done.stdout)
    assert [e.endpoint for e in fake.ledger.entries] == ["LeadsMetaData.Get"]
