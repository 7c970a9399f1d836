"""The kernel chosen for KVM is the one GRUB boots by default (G6).

On Xen the default entry was often the Xen kernel (kernel-xen, or a
"with Xen hypervisor" entry); after a default kernel was installed next to
it, GRUB would still pick the old one. This step finds the boot kernel's
entry and makes it the default:

* GRUB 2 with GRUB_DEFAULT=saved: grub2-set-default / grub-set-default with
  the entry's id path (what `grub2-set-default N` does in the guide, but
  robust against menus with submenus);
* GRUB 2 otherwise: GRUB_DEFAULT in /etc/default/grub, and grub.cfg made
  again so it carries it;
* BLS menus (grub.cfg only says `blscfg`): grubby --set-default;
* GRUB legacy: `default N` in menu.lst, adding an entry for the boot
  kernel when there is none (the Xen entry boots xen.gz, not our kernel).
"""

import re
from dataclasses import dataclass, field

from .. import grubdefaults
from ..guest import has_program
from ..plan import GuestCommand, edit
from .base import Step
from .bootloader_config import DEFAULTS, fix_cmdline
from .regenerate_grub_cfg import mkconfig_argv

LINUX_COMMANDS = ("linux", "linux16", "linuxefi")


@dataclass
class MenuEntry:
    title: str
    entry_id: str
    path: list = field(default_factory=list)  # id (or title) of each level
    titles: list = field(default_factory=list)
    top_index: int = 0  # index among top-level items
    kernel: str = ""  # basename of the linux image

    @property
    def selector(self):
        return ">".join(self.path)


_ITEM = re.compile(r"^\s*(menuentry|submenu)\s+(['\"])(.*?)\2(.*)\{\s*$")
_ID = re.compile(r"\$menuentry_id_option\s+(['\"])(.*?)\1|--id[= ](['\"]?)(\S+?)\3(?:\s|$)")


def grub_cfg_entries(text):
    """Menu entries of a grub.cfg, with their place in the menu."""
    entries, stack, top = [], [], -1  # stack: (kind, id, title)
    current = None
    for line in text.splitlines():
        m = _ITEM.match(line)
        if m:
            kind, title, rest = m.group(1), m.group(3), m.group(4)
            idm = _ID.search(rest)
            entry_id = (idm.group(2) or idm.group(4)) if idm else ""
            if not stack:
                top += 1
            if kind == "menuentry":
                current = MenuEntry(
                    title,
                    entry_id,
                    [s[1] or s[2] for s in stack] + [entry_id or title],
                    [s[2] for s in stack] + [title],
                    top,
                )
                entries.append(current)
            stack.append((kind, entry_id, title))
            continue
        if line.strip() == "}" and stack:
            kind = stack.pop()[0]
            if kind == "menuentry":
                current = None
            continue
        words = line.split()
        if current is not None and words and words[0] in LINUX_COMMANDS and len(words) > 1:
            current.kernel = words[1].rsplit("/", 1)[-1]
    return entries


def boot_entry(entries, version):
    """The boot kernel's normal (not recovery) entry."""
    matches = [e for e in entries if e.kernel == f"vmlinuz-{version}"]
    normal = [e for e in matches if "recovery" not in e.title.lower()]
    return (normal or matches or [None])[0]


def resolve_default(value, entries):
    """The entry a GRUB default (index, id, title or a>b path) selects."""
    value = (value or "0").strip().strip("'\"")
    if value.isdigit():
        tops = [e for e in entries if e.top_index == int(value) and len(e.path) == 1]
        return tops[0] if tops else None
    parts = value.split(">")
    for e in entries:
        if len(e.path) == len(parts) and all(
            p in (i, t) for p, i, t in zip(parts, e.path, e.titles)
        ):
            return e
    return None


def grub_default(defaults_text):
    value = grubdefaults.value(defaults_text, "GRUB_DEFAULT")
    return None if value is None else value.strip().strip("'\"")


def saved_entry(grubenv):
    for line in (grubenv or "").splitlines():
        if line.startswith("saved_entry="):
            return line.split("=", 1)[1]
    return None


def set_grub_default(text, value):
    return grubdefaults.set_value(text, "GRUB_DEFAULT", value)


# -- GRUB legacy --------------------------------------------------------------
def menu_lst_entries(text):
    """[(first line index, last line index, {command: args})] of menu.lst."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"\s*title\s", line)]
    out = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        commands = {}
        for line in lines[start:end]:
            words = line.split(None, 1)
            if words and not words[0].startswith("#"):
                commands.setdefault(words[0], words[1].strip() if len(words) > 1 else "")
        out.append((start, end, commands))
    return out


def _image(args):
    return args.split()[0].rsplit("/", 1)[-1] if args else ""


def fix_menu_lst_default(text, kernel, product, devmap, aliases=()):
    """menu.lst with `default` on the boot kernel's entry (added if missing).
    `aliases` are other names of the kernel image (SUSE's /boot/vmlinuz
    symlink to the newest default kernel)."""
    entries = menu_lst_entries(text)
    names = {kernel.vmlinuz.rsplit("/", 1)[-1], *aliases}
    index = next(
        (n for n, (_s, _e, c) in enumerate(entries) if _image(c.get("kernel", "")) in names), None
    )
    lines = text.splitlines(keepends=True)
    if index is None and entries:
        lines = _with_entry(lines, entries, kernel, product, devmap, text)
        index = 0
    elif index is None:
        return text
    body = "".join(lines)
    if re.search(r"^\s*default\s", body, re.M):
        return re.sub(
            r"^(\s*default)\s.*$", lambda m: f"{m.group(1)} {index}", body, count=1, flags=re.M
        )
    return f"default {index}\n" + body


def _with_entry(lines, entries, kernel, product, devmap, text):
    """The lines with a new first entry for `kernel`, modelled on the current
    default entry (a Xen entry's dom0 kernel arguments are on its `module`
    line)."""
    m = re.search(r"^\s*default\s+(\d+)", text, re.M)
    current = int(m.group(1)) if m and int(m.group(1)) < len(entries) else 0
    start, _end, commands = entries[current]
    kernel_args = commands.get("kernel", "")
    if _image(kernel_args).startswith("xen") and "module" in commands:
        kernel_args = commands["module"]
    image_path = kernel_args.split()[0] if kernel_args else kernel.vmlinuz
    prefix = image_path.rsplit("/", 1)[0] if "/" in image_path else "/boot"
    args = fix_cmdline(" ".join(kernel_args.split()[1:]), devmap)
    initrd = kernel.initrd.rsplit("/", 1)[-1] if kernel.initrd else f"initrd-{kernel.version}"
    indent = (
        re.match(r"\s*", lines[start + 1] if start + 1 < len(lines) else "").group(0) or "    "
    )
    new = [f"title {product or 'Linux'} - {kernel.version} (KVM, added by guestfix)\n"]
    if "root" in commands:
        new.append(f"{indent}root {commands['root']}\n")
    new.append(
        f"{indent}kernel {prefix}/{kernel.vmlinuz.rsplit('/', 1)[-1]} {args}".rstrip() + "\n"
    )
    new.append(f"{indent}initrd {prefix}/{initrd}\n\n")
    first = entries[0][0]
    return lines[:first] + new + lines[first:]


def image_aliases(guest, kernel):
    """Names in /boot that are symlinks to the kernel's image."""
    image = kernel.vmlinuz.rsplit("/", 1)[-1]
    return [
        name
        for name in guest.ls("/boot")
        if guest.is_symlink(f"/boot/{name}")
        and guest.readlink(f"/boot/{name}").rsplit("/", 1)[-1] == image
    ]


class DefaultKernel(Step):
    name = "default-kernel"
    title = "the boot kernel is GRUB's default entry"
    changes = (
        "GRUB_DEFAULT in /etc/default/grub and grub.cfg, or grubenv saved_entry "
        "(grub-set-default), or grubby's default, or menu.lst `default`"
    )
    # it looks for the boot kernel's entry in the regenerated grub.cfg
    after = ("regenerate-grub-cfg",)

    def applies(self, facts):
        return facts.bootloader in ("grub2", "grub-legacy") and bool(facts.boot_kernel)

    def plan(self, ctx):
        f = ctx.facts
        kernel = f.kernel(f.boot_kernel)
        if f.bootloader == "grub-legacy":
            before = ctx.guest.read_text(f.grub_cfg)
            if before is None or ctx.guest.is_symlink(f.grub_cfg):
                return []
            after = fix_menu_lst_default(
                before, kernel, f.product, ctx.devmap, image_aliases(ctx.guest, kernel)
            )
            change = edit(
                self.name, f"default entry boots {kernel.version}", f.grub_cfg, before, after
            )
            return [change] if change else []
        cfg = ctx.guest.read_text(f.grub_cfg) or ""
        if re.search(r"^\s*blscfg\b", cfg, re.M):
            return self._bls(ctx, kernel)
        entries = grub_cfg_entries(cfg)
        target = boot_entry(entries, kernel.version)
        if target is None:
            ctx.notes.append(
                f"{f.grub_cfg} has no entry for {kernel.version}; its default entry was left alone"
            )
            return []
        defaults = ctx.guest.read_text(DEFAULTS)
        value = grub_default(defaults)
        if value == "saved":
            env = ctx.guest.read_text(f"{f.grub_dir}/grubenv")
            if resolve_default(saved_entry(env), entries) is target:
                return []
            tool = (
                "grub2-set-default" if f.grub_dir.startswith("/boot/grub2") else "grub-set-default"
            )
            return [
                GuestCommand(
                    step=self.name,
                    summary=f"saved default entry boots {kernel.version}",
                    argv=[tool, target.selector],
                )
            ]
        if resolve_default(value, entries) is target or defaults is None:
            return []
        argv = mkconfig_argv(ctx.guest, f.grub_cfg)
        if argv is None:
            return []
        change = edit(
            self.name,
            f"GRUB_DEFAULT selects {kernel.version}",
            DEFAULTS,
            defaults,
            set_grub_default(defaults, target.selector),
        )
        return [
            change,
            GuestCommand(
                step=self.name, summary=f"{f.grub_cfg} regenerated with the new default", argv=argv
            ),
        ]

    def _bls(self, ctx, kernel):
        if not has_program(ctx.guest, "grubby"):
            ctx.notes.append(
                "the guest uses BLS menu entries but has no grubby; "
                "its default entry was left alone"
            )
            return []
        ids = [
            p.rsplit("/", 1)[-1][: -len(".conf")]
            for p in ctx.guest.glob(f"/boot/loader/entries/*-{kernel.version}.conf")
        ]
        env = ctx.guest.read_text(f"{ctx.facts.grub_dir}/grubenv")
        if ids and saved_entry(env) in ids:
            return []
        return [
            GuestCommand(
                step=self.name,
                summary=f"default entry boots {kernel.version}",
                argv=["grubby", f"--set-default={kernel.vmlinuz}"],
            )
        ]


STEP = DefaultKernel()
