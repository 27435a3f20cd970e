"""Compare Schemathesis findings with the allow-list; exit 1 on any other.

Each finding is `METHOD /path check_name` plus Schemathesis's message.
allowlist.txt holds `METHOD /path check_name [| text in the message]  # reason`
lines; the optional text narrows an entry to findings whose message contains
it. Blank lines and lines starting with # are ignored. Prints every finding
with its status, then a summary line.
"""
import json
import sys


def findings(path):
    found = {}
    with open(path) as f:
        for line in f:
            event = json.loads(line)
            (kind, body), = event.items()
            if kind != "ScenarioFinished":
                continue
            label = body.get("recorder", {}).get("label", "?")
            for checks in body.get("recorder", {}).get("checks", {}).values():
                for c in checks:
                    if c.get("status") == "failure":
                        info = c.get("failure_info") or {}
                        # Stateful scenarios are labelled as a whole; name the operation.
                        op = (info.get("failure") or {}).get("operation") or label
                        message = (info.get("failure") or {}).get("message", "")
                        found.setdefault((f"{op} {c['name']}", message.splitlines()[-1] if message else ""), message)
    return found


def allowlist(path):
    allowed = []
    for raw in open(path):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        entry, _, reason = line.partition("#")
        if not reason.strip():
            sys.exit(f"allowlist entry without a reason: {line}")
        key, _, text = entry.partition("|")
        allowed.append((" ".join(key.split()), text.strip()))
    return allowed


def is_allowed(finding, message, allowed):
    return any(finding == k and (not t or t in message) for k, t in allowed)


def main():
    allowed = allowlist(sys.argv[1])
    seen = {}
    for report in sys.argv[2:]:
        try:
            seen.update(findings(report))
        except FileNotFoundError:
            sys.exit(f"schemathesis wrote no report at {report} (see the .txt next to it)")
    ok = {k: is_allowed(k[0], msg, allowed) for k, msg in seen.items()}
    unexpected = sorted(k for k, good in ok.items() if not good)
    for (finding, last_line), good in sorted(ok.items()):
        print(("allowed    " if good else "UNEXPECTED ") + finding + (f"  ({last_line})" if last_line else ""))
    print(f"schemathesis: {len(seen)} findings, {len(seen) - len(unexpected)} allowed, {len(unexpected)} unexpected")
    sys.exit(1 if unexpected else 0)


main()
