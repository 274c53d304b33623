"""Reads a dtp archive with software that is not dtp: Python's mailbox.Maildir
and vobject (vCard and iCalendar). Prints a JSON summary on stdout."""
import json
import mailbox
import os
import sys

import vobject

root = sys.argv[1]
out = {"maildirs": {}, "vcards": {}, "icalendars": {}}

for dirpath, dirnames, _ in os.walk(os.path.join(root, "mail")):
    if "cur" in dirnames:
        md = mailbox.Maildir(dirpath, factory=None, create=False)
        msgs = []
        for key in md.keys():
            m = md[key]
            msgs.append({"subject": m["subject"], "message_id": m["message-id"], "flags": m.get_flags()})
        rel = os.path.relpath(dirpath, os.path.join(root, "mail"))
        out["maildirs"][rel] = sorted(msgs, key=lambda m: m["subject"] or "")

for dirpath, _, files in os.walk(root):
    for f in files:
        path = os.path.join(dirpath, f)
        rel = os.path.relpath(path, root)
        if f.endswith(".vcf"):
            with open(path, encoding="utf-8") as fh:
                cards = list(vobject.readComponents(fh))
            out["vcards"][rel] = [
                {"fn": c.fn.value, "tel": [t.value for t in c.contents.get("tel", [])]} for c in cards
            ]
        elif f.endswith(".ics"):
            with open(path, encoding="utf-8") as fh:
                cals = list(vobject.readComponents(fh))
            events, todos = [], []
            for cal in cals:
                for ev in cal.contents.get("vevent", []):
                    events.append({
                        "uid": ev.uid.value,
                        "summary": ev.summary.value,
                        "rrule": ev.rrule.value if "rrule" in ev.contents else None,
                        "recurrence_id": str(ev.contents["recurrence-id"][0].value) if "recurrence-id" in ev.contents else None,
                    })
                for td in cal.contents.get("vtodo", []):
                    todos.append({
                        "uid": td.uid.value,
                        "summary": td.summary.value,
                        "related_to": td.contents["related-to"][0].value if "related-to" in td.contents else None,
                    })
                # Expanding the series proves the recurrence is well-formed.
                for ev in cal.contents.get("vevent", []):
                    if "rrule" in ev.contents and "recurrence_id" not in ev.contents:
                        ev.getrruleset(addRDate=True)
            out["icalendars"][rel] = {"events": events, "todos": todos}

json.dump(out, sys.stdout, ensure_ascii=False, sort_keys=True)
