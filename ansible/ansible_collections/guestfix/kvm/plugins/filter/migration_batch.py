# -*- coding: utf-8 -*-
"""The migration_batch filter: one batch summary from the guests' migrate results."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: migration_batch
short_description: Summarise a batch of guestfix.kvm.migrate results
version_added: "0.1.0"
description:
  - Reads each guest's registered result of M(guestfix.kvm.migrate) from O(hostvars) and
    returns the batch's outcome per guest, the totals, and lines to print.
  - A guest without a result was not run (for example left out by C(--limit), or its
    host was unreachable).
options:
  _input:
    description: The guests' inventory names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: dict
    required: true
  result_var:
    description: The variable each guest's result was registered as.
    type: str
    default: guestfix_migration
author:
  - guestfix developers (@guestfix)
"""

EXAMPLES = r"""
- name: Batch summary
  ansible.builtin.debug:
    msg: "{{ (groups['xen_guests'] | guestfix.kvm.migration_batch(hostvars)).lines }}"
"""

RETURN = r"""
_value:
  description: C(guests) (one dict per guest), C(totals) (guests per outcome) and C(lines).
  type: dict
"""

OUTCOMES = ("migrated", "would migrate", "already migrated", "failed", "not run")


def _outcome(result):
    if not result:
        return "not run", ""
    if result.get("failed"):
        return "failed", result.get("msg", "")
    if result.get("already_migrated"):
        return "already migrated", result.get("msg", "")
    report = result.get("report") or {}
    if report.get("dry_run"):
        return "would migrate", result.get("msg", "")
    return "migrated", result.get("msg", "")


def migration_batch(guests, hostvars, result_var="guestfix_migration"):
    records = []
    for guest in guests:
        result = (hostvars[guest].get(result_var) if guest in hostvars else None) or {}
        outcome, message = _outcome(result)
        records.append(
            {
                "guest": guest,
                "name": result.get("name") or "",
                "outcome": outcome,
                "message": message,
                "seconds": result.get("seconds") or 0.0,
                "waited_seconds": result.get("waited_seconds") or 0.0,
                "phases": result.get("phases") or [],
            }
        )
    totals = dict((o, sum(1 for r in records if r["outcome"] == o)) for o in OUTCOMES)
    lines = [
        "%s: %s%s" % (r["guest"], r["outcome"], " - " + r["message"] if r["message"] else "")
        for r in records
    ]
    lines.append(", ".join("%d %s" % (n, o) for o, n in totals.items() if n) or "no guests")
    return {"guests": records, "totals": totals, "lines": lines}


class FilterModule(object):
    def filters(self):
        return {"migration_batch": migration_batch}
