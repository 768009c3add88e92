"""``guestmeta status``: every host's agent and service, as they last reported to the store."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from guestmeta.cli.common import Format, FormatOption, app, fail, open_store
from guestmeta.cli.output import as_json, print_rows

STALE_AFTER = 60.0  # seconds without a report; processes report every 10 s
COLUMNS = ["host", "role", "applied", "lag", "pending", "last_seen", "stale", "failures"]


@app.command()
def status(
    fmt: FormatOption = Format.table,
    stale_after: Annotated[
        float,
        typer.Option(
            "--stale-after", help="seconds without a report that mark a host stale", min=1.0
        ),
    ] = STALE_AFTER,
    forget: Annotated[
        str | None,
        typer.Option(
            "--forget",
            metavar="HOST",
            help="delete HOST's report rows (a retired host) instead of showing",
        ),
    ] = None,
) -> None:
    """Show each host's agent and metadata service: the revision applied, how far behind.

    ``applied`` is the store revision the process has caught up to; ``lag`` is how many
    revisions it trails by when a change that concerns it is still unapplied (``pending``
    servers), and 0 otherwise, since a host is told only of its own changes. A process
    that has not reported for --stale-after seconds is stale: stopped, or cut off from
    the store. ``failures`` are its last few, newest last.
    """
    if forget is not None:
        with open_store() as store:
            forgotten = store.forget_host(forget)
        if not forgotten:
            fail(f"guestmeta: status --forget: no reports of host {forget!r}")
        typer.echo(f"forgot {forgotten} report row(s) of host {forget}")
        return
    with open_store() as store:
        revision, clock, rows = store.host_statuses()
    hosts: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (r["host"], r["role"])):
        ago = max(0.0, clock - row["seen_at"])
        pending = row["pending"]
        hosts.append(
            {
                "host": row["host"],
                "role": row["role"],
                "pid": row["pid"],
                "applied": row["applied"],
                "lag": revision - row["applied"] if pending else 0,
                "pending": pending,
                "last_seen_s": round(ago, 1),
                "up_s": round(max(0.0, clock - row["started_at"]), 1),
                "stale": ago > stale_after,
                "failures": [
                    {"ago_s": round(max(0.0, clock - at), 1), "message": message}
                    for at, message in json.loads(row["failures"])
                ],
            }
        )
    if fmt is Format.json:
        typer.echo(as_json({"revision": revision, "hosts": hosts}))
        return
    typer.echo(f"store revision {revision}, {len({h['host'] for h in hosts})} host(s)")
    shown = [
        {
            **h,
            "last_seen": f"{h['last_seen_s']:g} s ago",
            "stale": "STALE" if h["stale"] else "",
            "failures": [f"{f['ago_s']:g} s ago: {f['message']}" for f in h["failures"][-2:]],
        }
        for h in hosts
    ]
    print_rows(shown, COLUMNS, "table")
