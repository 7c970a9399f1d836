#!/usr/bin/python
# -*- coding: utf-8 -*-
"""guestfix.kvm.migrate: one Xen guest made a libvirt/KVM guest by guestfix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: migrate
short_description: Migrate a stopped Xen guest to libvirt/KVM with guestfix
version_added: "0.1.0"
description:
  - Runs C(guestfix migrate) on the managed host (the KVM host) for one stopped Xen guest.
    The guest's disks are fixed inside (fstab, initrd drivers, boot loader, consoles) on
    overlays, copied to the destination, and its domain is rewritten for KVM and defined
    in libvirt (O(output=libvirt)) or written to a directory (O(output=local)).
    The originals are only read.
  - Idempotent. guestfix records the migration in the new domain's C(<metadata>)
    (source, time, guestfix version, the source disks' sizes and times). A run that finds
    that record for the same source reports C(changed=false) and touches nothing. A run
    whose source disks changed since fails and says so.
  - Check mode runs the fix as a dry run on throwaway overlays and writes nothing. Diff mode
    shows the Xen domain before and the KVM domain after, and each change inside the guest.
  - guestfix limits the migrations running at once on the managed host (lock slots under
    C(/run/guestfix)), whatever the number of forks. A migration waiting for a slot waits;
    the result says how long.
  - Options are those of C(guestfix migrate), named after their long forms.
options:
  source:
    description:
      - What O(input) reads. For V(libvirtxml), the Xen domain XML file. For V(xl), the
        xl.cfg file. For V(libvirt), the domain's name. For V(xva), a XenServer/XCP-ng
        export (C(xe vm-export)), read once into the destination. For V(xapi), the VM's
        name or UUID on the pool.
      - With O(input_conn), the path or name is on the Xen host.
    type: str
    required: true
  input:
    description: What O(source) is (C(-i)).
    type: str
    choices: [libvirtxml, libvirt, xl, xva, xapi]
    default: libvirtxml
  input_conn:
    description:
      - The Xen host (C(-ic)). For O(input=xl), C(ssh://[USER@]HOST[:PORT]). For O(input=libvirt),
        a libvirt URI such as C(xen+ssh://root@xenhost). For O(input=xapi), the pool master,
        C(https://[USER@]MASTER).
      - The managed host's own ssh keys, agent and known_hosts are used.
    type: str
  input_password_file:
    description:
      - For O(input=xapi), a file on the managed host whose first line is the pool master's
        password (C(-ip)). Without it, C(GUESTFIX_XAPI_PASSWORD) in the task's environment.
    type: path
  output:
    description: Where the guest goes (C(-o)). A libvirt storage pool and domain, or a directory.
    type: str
    choices: [libvirt, local]
    default: libvirt
  output_conn:
    description: The libvirt connection for O(output=libvirt) (C(-oc)). guestfix's default is C(qemu:///system).
    type: str
  output_storage:
    description: The storage pool (O(output=libvirt)) or directory (O(output=local)) (C(-os)).
    type: str
    required: true
  output_format:
    description: Format of the new disks (C(-of)). By default, the source's format.
    type: str
    choices: [raw, qcow2]
  output_allocation:
    description: Allocation of the new disks (C(-oa)).
    type: str
    choices: [sparse, preallocated]
  output_name:
    description: Name of the new guest (C(-on)). By default, the Xen guest's name.
    type: str
  bridge:
    description:
      - Bridge mappings C([IN:]OUT) (C(--bridge)), as virt-v2v takes them. A bare C(OUT) is
        the default for the bridges that are not mapped.
    type: list
    elements: str
    default: []
  network:
    description: Network mappings C([IN:]OUT) (C(--network)).
    type: list
    elements: str
    default: []
  mac:
    description: Per-interface mappings C(MAC:network|bridge:OUT) (C(--mac)).
    type: list
    elements: str
    default: []
  backup:
    description:
      - Directory for a verified backup of the source domain and disks, made first (C(--backup)).
      - Not made in check mode.
    type: path
  boot_check:
    description:
      - Boot the migrated guest and wait for its login prompt (C(--boot-check)). The task
        fails if the prompt does not come.
      - Not done in check mode.
    type: bool
    default: false
  packages:
    description: Package files or directories for a missing kernel or boot loader (C(--package)).
    type: list
    elements: path
    default: []
  online:
    description: Let the guest install a missing kernel or boot loader from its own repositories
      (C(--online)).
    type: bool
    default: false
  start_early:
    description:
      - Start the guest on its fixed overlays and copy its disks into the pool while it
        runs (C(--start-early), O(output=libvirt) only).
      - Not done in check mode.
    type: bool
    default: false
  virt_type:
    description: The domain type (C(--virt-type)). V(qemu) is for hosts without KVM.
    type: str
    choices: [kvm, qemu]
    default: kvm
  max_parallel:
    description:
      - At most this many fixes and migrations at once on the managed host (C(--max-parallel)).
      - By default, guestfix allows one per core and per 2 GiB of available memory.
    type: int
  executable:
    description: The guestfix command on the managed host.
    type: str
    default: guestfix
notes:
  - The guest must be stopped on its Xen host.
  - Runs as root on the managed host, as guestfix does.
requirements:
  - guestfix on the managed host
author:
  - guestfix developers (@guestfix)
"""

EXAMPLES = r"""
- name: Migrate a Xen guest into the default pool
  guestfix.kvm.migrate:
    source: /etc/xen/web.cfg
    input: xl
    input_conn: ssh://root@xenhost
    output_storage: default
    bridge: [br0]
    boot_check: true

- name: Migrate from a domain XML into a directory, two at a time on this host
  guestfix.kvm.migrate:
    source: /srv/xen/db.xml
    output: local
    output_storage: /srv/kvm
    max_parallel: 2
"""

RETURN = r"""
name:
  description: The migrated guest's name.
  returned: always
  type: str
  sample: web
already_migrated:
  description: The record found in the destination domain when nothing had to be done.
  returned: always
  type: dict
  sample: {"source": "/etc/xen/web.cfg", "input": "xl", "migrated": "2026-11-29T05:01:02Z"}
phases:
  description: guestfix's stages, with when each started and how long it took.
  returned: always
  type: list
  elements: dict
  sample:
    [{"name": "fix", "started": "2026-11-29T05:01:02.345+00:00", "seconds": 98.1, "ok": true}]
seconds:
  description: How long guestfix worked on the guest (its stages, the wait for a slot left out).
  returned: always
  type: float
  sample: 38.4
waited_seconds:
  description: How long the migration waited for a free slot on the managed host.
  returned: always
  type: float
  sample: 0.0
report:
  description: guestfix's JSON report of the run.
  returned: when guestfix ran to the end or the boot-check failed
  type: dict
cmd:
  description: The guestfix command line that ran.
  returned: always
  type: list
  elements: str
rc:
  description: guestfix's exit code.
  returned: always
  type: int
"""

import json  # noqa: E402 - ansible-test wants the doc strings before the imports

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - as above

# option -> flag, for the options that take one value and pass it as it is
VALUE_FLAGS = [
    ("input", "-i"),
    ("input_conn", "-ic"),
    ("input_password_file", "-ip"),
    ("output", "-o"),
    ("output_conn", "-oc"),
    ("output_storage", "-os"),
    ("output_format", "-of"),
    ("output_allocation", "-oa"),
    ("output_name", "-on"),
    ("virt_type", "--virt-type"),
    ("max_parallel", "--max-parallel"),
]
LIST_FLAGS = [
    ("bridge", "--bridge"),
    ("network", "--network"),
    ("mac", "--mac"),
    ("packages", "--package"),
]
# (option, flag, done in check mode): what a dry run cannot do is left out
SWITCHES = [
    ("online", "--online", True),
    ("boot_check", "--boot-check", False),
    ("start_early", "--start-early", False),
]


def command_line(executable, params, check_mode):
    argv = [executable, "migrate", params["source"]]
    for option, flag in VALUE_FLAGS:
        if params[option] is not None:
            argv += [flag, str(params[option])]
    for option, flag in LIST_FLAGS:
        for value in params[option]:
            argv += [flag, value]
    for option, flag, in_check_mode in SWITCHES:
        if params[option] and (in_check_mode or not check_mode):
            argv.append(flag)
    if params["backup"] and not check_mode:
        argv += ["--backup", params["backup"]]
    argv += ["--skip-migrated", "--json"]
    argv.append("--dry-run" if check_mode else "--yes")
    return argv


def one_line_error(stderr, rc):
    """guestfix's own one-line error, else the last line it printed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        for prefix in ("guestfix: error: ", "guestfix: "):
            if line.startswith(prefix):
                return line[len(prefix) :]
    return lines[-1] if lines else "guestfix failed with exit code %d" % rc


def diffs(report):
    out = [
        {
            "before_header": "Xen domain (source)",
            "before": report.get("domain_before", ""),
            "after_header": "KVM domain",
            "after": report.get("domain_after", ""),
        }
    ]
    for change in report.get("changes", []):
        if change.get("diff"):
            out.append({"prepared": change["diff"]})
    return out


def summary(result, report, check_mode):
    waited = result["waited_seconds"]
    waited_text = " after waiting %.0f s for a free slot" % waited if waited else ""
    changes = len(report.get("changes", []))
    if check_mode:
        return "%s would be migrated (%d changes in the guest)%s" % (
            result["name"],
            changes,
            waited_text,
        )
    return "%s migrated in %.0f s (%d changes in the guest)%s" % (
        result["name"],
        result["seconds"],
        changes,
        waited_text,
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="str", required=True),
            input=dict(
                type="str",
                default="libvirtxml",
                choices=["libvirtxml", "libvirt", "xl", "xva", "xapi"],
            ),
            input_conn=dict(type="str"),
            input_password_file=dict(type="path", no_log=False),
            output=dict(type="str", default="libvirt", choices=["libvirt", "local"]),
            output_conn=dict(type="str"),
            output_storage=dict(type="str", required=True),
            output_format=dict(type="str", choices=["raw", "qcow2"]),
            output_allocation=dict(type="str", choices=["sparse", "preallocated"]),
            output_name=dict(type="str"),
            bridge=dict(type="list", elements="str", default=[]),
            network=dict(type="list", elements="str", default=[]),
            mac=dict(type="list", elements="str", default=[]),
            backup=dict(type="path"),
            boot_check=dict(type="bool", default=False),
            packages=dict(type="list", elements="path", default=[]),
            online=dict(type="bool", default=False),
            start_early=dict(type="bool", default=False),
            virt_type=dict(type="str", default="kvm", choices=["kvm", "qemu"]),
            max_parallel=dict(type="int"),
            executable=dict(type="str", default="guestfix"),
        ),
        supports_check_mode=True,
    )
    executable = module.get_bin_path(module.params["executable"], required=True)
    argv = command_line(executable, module.params, module.check_mode)
    rc, stdout, stderr = module.run_command(argv)
    try:
        report = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        report = None
    result = dict(
        changed=False,
        cmd=argv,
        rc=rc,
        report=report,
        name="",
        already_migrated=None,
        phases=[],
        seconds=0.0,
        waited_seconds=0.0,
    )
    if report:
        result.update(
            name=report.get("name", ""),
            already_migrated=report.get("already_migrated"),
            phases=report.get("stages", []),
            seconds=report.get("working_seconds") or 0.0,
            waited_seconds=(report.get("slot") or {}).get("waited_seconds") or 0.0,
        )
    if rc != 0:
        module.fail_json(msg=one_line_error(stderr, rc), stderr=stderr, **result)
    if report is None:
        module.fail_json(
            msg="guestfix printed no JSON report", stdout=stdout, stderr=stderr, **result
        )
    if report.get("already_migrated"):
        record = report["already_migrated"]
        module.exit_json(
            msg="%s was migrated from %s on %s"
            % (result["name"], record.get("source"), record.get("migrated")),
            **result,
        )
    result["changed"] = True
    if module._diff:
        result["diff"] = diffs(report)
    module.exit_json(msg=summary(result, report, module.check_mode), **result)


if __name__ == "__main__":
    main()
