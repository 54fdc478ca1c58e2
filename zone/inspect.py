"""The message log as a page for people: what passed through a zone and what to fix."""

from __future__ import annotations

import html
from datetime import datetime, timezone

from messages.codes import describe


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def entry_json(entry: dict) -> dict:
    """One log entry as the /log endpoint returns it."""
    ack = entry["ack"]
    explanation = ""
    if "/" in ack.split(" ")[0]:
        cat, _, code = ack.split(" ")[0].partition("/")
        if cat.isdigit() and code.isdigit():
            explanation = describe(int(cat), int(code))
    return {
        "id": entry["id"],
        "time": _time(entry["at"]),
        "sender": entry["sender"],
        "receiver": entry["receiver"],
        "message_type": entry["kind"],
        "object": entry["object_name"],
        "msg_id": entry["msg_id"],
        "ack": ack,
        "ack_meaning": explanation,
        "size": entry["size"],
        "findings": [
            {
                "error": f"{f['category']}/{f['code']}",
                "enforced": f.get("enforced", True),
                "line": f.get("line"),
                "element": f.get("element"),
                "explanation": f["message"],
            }
            for f in entry["findings"]
        ],
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Zone {zone} — message log</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
th,td{{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}} .err{{color:#a40000;font-weight:600}} .ok{{color:#176d1f}}
.finding{{margin:.2rem 0;padding:.2rem .4rem;background:#fff6e5;border-left:3px solid #e6a100}}
.finding.enforced{{background:#fdecea;border-color:#c62828}} code{{font-size:.85rem}}
</style></head><body>
<h1>Zone <code>{zone}</code></h1>
<p>{count} most recent messages, newest first. This page refreshes every 5 seconds;
the same data is at <a href="log">log</a> (JSON).</p>
<table><thead><tr><th>Time</th><th>Sender</th><th>Receiver</th><th>Message</th><th>Object</th>
<th>SIF_MsgId</th><th>Ack</th><th>Findings — what to fix</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>
"""


def page(zone_id: str, entries: list[dict]) -> str:
    rows = []
    for e in (entry_json(x) for x in entries):
        ok = "/" not in e["ack"].split(" ")[0]
        findings = "".join(
            f'<div class="finding{" enforced" if f["enforced"] else ""}">'
            f'<b>{html.escape(f["error"])}</b>{"" if f["enforced"] else " (not enforced here)"}: '
            f'{html.escape(f["explanation"])}'
            + (f' <small>line {f["line"]}</small>' if f["line"] else "")
            + "</div>"
            for f in e["findings"]
        )
        ack = html.escape(e["ack"]) + (f'<br><small>{html.escape(e["ack_meaning"])}</small>' if e["ack_meaning"] else "")
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                e["time"], e["sender"], e["receiver"], e["message_type"], e["object"]))
            + f'<td><code>{html.escape(e["msg_id"])}</code></td>'
            + f'<td class="{"ok" if ok else "err"}">{ack}</td><td>{findings}</td></tr>'
        )
    return PAGE.format(zone=html.escape(zone_id), count=len(rows), rows="\n".join(rows))
