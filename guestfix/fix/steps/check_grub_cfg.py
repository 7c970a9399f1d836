"""The regenerated grub.cfg names the disks as KVM will see them.

grub-mkconfig runs inside the libguestfs appliance, where the disks are
/dev/sda, /dev/sdb, ...; with GRUB_DISABLE_LINUX_UUID=true (or no UUIDs) it
writes those names into root=. They are renamed to the virtio names, and
the file is then checked to name no appliance device, no Xen device and no
Xen console.
"""

import re

from ...core.devnames import virtio_name
from ...core.errors import StepError
from ..facts import scan_references
from ..plan import edit
from .base import Step


def appliance_to_virtio(text, appliance_disks):
    """/dev/sdb2 (the second disk in the appliance) -> /dev/vdb2."""
    names = {dev.rsplit("/", 1)[1]: virtio_name(i) for i, dev in enumerate(appliance_disks)}
    pattern = re.compile(r"(?<![\w/])/dev/(" + "|".join(map(re.escape, names)) + r")(\d*)(?!\w)")
    return pattern.sub(lambda m: f"/dev/{names[m.group(1)]}{m.group(2)}", text)


def problems(text, appliance_disks):
    found = [str(r) for r in scan_references("grub.cfg", text)]
    for dev in appliance_disks:
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(re.escape(dev) + r"\d*(?!\w)", line) and not line.lstrip().startswith(
                "#"
            ):
                found.append(f"grub.cfg:{n}: {line.strip()}")
    return found


class CheckGrubCfg(Step):
    name = "check-grub-cfg"
    title = "grub.cfg checked: virtio device names only"
    changes = "grub.cfg (appliance device names -> virtio names)"
    reads = ("regenerate-grub-cfg", "default-kernel")  # the steps that write grub.cfg

    def applies(self, facts):
        return facts.bootloader == "grub2"

    def plan(self, ctx):
        if not ctx.changed(*self.reads):
            return []
        cfg = ctx.facts.grub_cfg
        before = ctx.guest.read_text(cfg) or ""
        after = appliance_to_virtio(before, ctx.facts.appliance_disks)
        left = problems(after, ctx.facts.appliance_disks)
        if left:
            raise StepError(f"{cfg} still names non-virtio devices after regeneration: {left[0]}")
        change = edit(self.name, "appliance device names -> virtio", cfg, before, after)
        return [change] if change else []


STEP = CheckGrubCfg()
