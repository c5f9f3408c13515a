"""``demo`` and ``fake-server``: the fake LeadSquared, and realistic leads to import into it."""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._importer import ImportConfig, ImportReport, run
from ._options import Rate
from ._summary import rows_per_call

if TYPE_CHECKING:
    from ..testing import FakeLeadSquared

__all__ = ["run_demo", "run_fake_server", "write_demo_csv"]

_FIRST = (
    "Aarav",
    "Aditi",
    "Arjun",
    "Ananya",
    "Diya",
    "Ishaan",
    "Kabir",
    "Kavya",
    "Meera",
    "Neha",
    "Nikhil",
    "Priya",
    "Rahul",
    "Riya",
    "Rohan",
    "Saanvi",
    "Sara",
    "Tanvi",
    "Vihaan",
    "Zoya",
    "Amit",
    "Pooja",
    "Vikram",
    "Sneha",
    "Karan",
)
_LAST = (
    "Sharma",
    "Verma",
    "Iyer",
    "Reddy",
    "Nair",
    "Gupta",
    "Mehta",
    "Kapoor",
    "Singh",
    "Das",
    "Rao",
    "Joshi",
    "Patel",
    "Bose",
    "Menon",
)
_CITIES = (
    "Mumbai",
    "Delhi",
    "Bengaluru",
    "Hyderabad",
    "Chennai",
    "Pune",
    "Kolkata",
    "Ahmedabad",
    "Jaipur",
    "Kochi",
    "Lucknow",
    "Indore",
)
_SOURCES = ("Website", "Referral", "Campaign", "Walk-in", "Partner")
_KYC = ("Pending", "Verified", "Rejected")
COLUMNS = (
    "FirstName",
    "LastName",
    "EmailAddress",
    "Phone",
    "mx_City",
    "Source",
    "mx_KYC.Status",
)

#: The demo account's custom fields (the columns above that are no standard field).
DEMO_FIELDS = ("mx_City", "mx_KYC.Status")


def write_demo_csv(path: Path, rows: int, *, seed: int = 7) -> tuple[int, int]:
    """Write ``rows`` realistic leads; return how many are duplicates and how many are bad.

    About one row in 400 repeats an earlier email (the service refuses it as a duplicate) and
    about one in 400 has no name, email or phone (the client refuses it before sending).
    """
    rng = random.Random(seed)
    duplicates = bad = 0
    emails: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first}.{last}.{n}@example.com".lower()
            phone = f"+91-{rng.randint(70000, 99999)}{n:05d}"
            city, source, kyc = rng.choice(_CITIES), rng.choice(_SOURCES), rng.choice(_KYC)
            if n > 10 and n % 400 == 137:
                email, phone = rng.choice(emails), ""
                duplicates += 1
            elif n % 400 == 251:
                first = last = email = phone = ""
                bad += 1
            else:
                emails.append(email)
            writer.writerow((first, last, email, phone, city, source, kyc))
    return duplicates, bad


async def _demo(rows: int, rate: Rate, results: Path | None, plain: bool) -> ImportReport:
    from ..testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

    limit = rate.limit
    # The account's fields: the import checks its rows against them, as by default.
    fake = FakeLeadSquared(rate_limit=limit, fields=DEMO_FIELDS)
    with tempfile.TemporaryDirectory(prefix="leadsq-demo-") as folder:
        source = Path(folder) / "leads.csv"
        duplicates, bad = write_demo_csv(source, rows)
        target = results or Path(folder) / "results.jsonl"
        async with fake.serve() as base_url:
            limits = (
                "no limit" if limit is None else f"limit {limit.calls} calls / {limit.period:g} s"
            )
            print(
                f"demo: a fake LeadSquared at {base_url} ({limits}), "
                f"importing {rows} generated leads ({duplicates} duplicate emails, "
                f"{bad} rows with no name, email or phone)",
                flush=True,
            )
            config = ImportConfig(
                path=source,
                fmt="csv",
                op="create",
                search_by=None,
                results=target,
                access_key=DEMO_ACCESS_KEY,
                secret_key=DEMO_SECRET_KEY,
                base_url=base_url,
                rate=limit,
                overwrite=True,
                plain=plain,
                show_results=results is not None,
            )
            report = await run(config)
    tally = report.tally
    achieved = tally.rate()
    extra = (
        f"{rows_per_call(report.stats):.1f} rows per call, "
        f"{fake.ledger.rate_limited()} 429s at the service, "
        f"{len(fake.store)} leads in the fake, {len(fake.store.duplicates())} duplicated"
    )
    ceiling = tally.ceiling
    if ceiling is None:
        measured = "not measured" if achieved is None else f"{achieved:.0f} rows/s"
        print(f"achieved {measured} with no limit ({extra})")
    elif achieved is None:
        print(
            f"the calls ran {tally.span():.1f}s, too short to measure a rate against the "
            f"{ceiling:.0f} rows/s ceiling; --rows 2000 runs about 9 s ({extra})"
        )
    else:
        print(
            f"achieved {achieved:.0f} rows/s on the wire = {achieved / ceiling:.2f} of the "
            f"{ceiling:.0f} rows/s ceiling ({extra})"
        )
    return report


def run_demo(args: argparse.Namespace) -> int:
    """Serve the fake, generate leads, import them, print the summary; the exit code."""
    report = asyncio.run(_demo(args.rows, args.rate, args.results, args.plain))
    if report.interrupted:
        return 130
    return 0


async def _serve(fake: FakeLeadSquared, args: argparse.Namespace, out: TextIO) -> None:
    from ..testing import DEMO_SECRET_KEY

    limits = f"{fake.rate_limit or 'none'}"
    if fake.bulk_rate_limit is not None:
        limits += f", bulk {fake.bulk_rate_limit}"
    if fake.daily_quota is not None:
        limits += f", quota {fake.daily_quota}"
    if fake.plan is not None:
        limits += f" (plan {fake.plan.name})"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with fake.serve(args.listen, args.port) as url:
            print(url, file=out, flush=True)
            secret = (
                args.secret_key
                if args.secret_key == DEMO_SECRET_KEY
                else "(the --secret-key you gave)"
            )
            access = args.access_key
            note = "  # the public demo key" if secret == DEMO_SECRET_KEY else ""
            # One line whatever the budgets: readers take the keys from the lines after it.
            print(f"rate limit: {limits}", file=out)
            print("use it with:", file=out)
            print(f"  export LSQ_ACCESS_KEY='{access}'", file=out)
            print(f"  export LSQ_SECRET_KEY='{secret}'{note}", file=out)
            print(
                f"  leadsq-async import leads.csv --op create --base-url {url} "
                f"--rate {fake.rate_limit or 'none'}",
                file=out,
            )
            print("the fake's own endpoints (send the keys above as the same headers):", file=out)
            print(f"  GET  {url}/_fake/leads         every lead, in creation order", file=out)
            print(f"  GET  {url}/_fake/leads/ID      one lead", file=out)
            print(f"  GET  {url}/_fake/summary       calls, 429s, leads", file=out)
            print(f"  POST {url}/_fake/reset         forget every lead and call", file=out)
            print("Ctrl-C stops the server.", file=out, flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_fake_server(args: argparse.Namespace) -> int:
    """Serve the fake until SIGINT/SIGTERM; the exit code."""
    from ..testing import bind_error, build_fake

    try:
        fake = build_fake(args)
    except ValueError as exc:  # options that do not go together (--users without --plan)
        print(f"leadsq-async: error: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        asyncio.run(_serve(fake, args, sys.stdout))
    except OSError as exc:
        print(f"leadsq-async: error: {bind_error(exc, args.listen, args.port)}", file=sys.stderr)
        return 2
    return 0
