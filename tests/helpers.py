"""Test helpers: an in-memory guest tree for the steps' golden tests."""

import fnmatch

from guestfix.core.runner import CommandResult
from guestfix.fix.facts import GuestFacts


class Link:
    def __init__(self, target):
        self.target = target


class MemoryGuest:
    """The read API steps use (guestfix.guest.GuestTree) over a dict
    {path: text or Link}. It is a plain guest tree, not a mock: steps see
    files exactly as they would through libguestfs. It has no programs to
    run."""

    def __init__(self, files):
        self.files = dict(files)

    def read_text(self, path):
        v = self.files.get(path)
        return v if isinstance(v, str) else None

    def exists(self, path):
        return path in self.files or any(p.startswith(path.rstrip("/") + "/") for p in self.files)

    def is_file(self, path):
        return isinstance(self.files.get(path), str)

    def is_dir(self, path):
        return path not in self.files and self.exists(path)

    def is_symlink(self, path):
        return isinstance(self.files.get(path), Link)

    def readlink(self, path):
        return self.files[path].target

    def ls(self, d):
        d = d.rstrip("/")
        return sorted({p[len(d) + 1 :].split("/")[0] for p in self.files if p.startswith(d + "/")})

    def glob(self, pattern):
        return sorted(
            p
            for p in self.files
            # as a shell's glob: a wildcard matches within one path component
            if fnmatch.fnmatch(p, pattern) and p.count("/") == pattern.count("/")
        )

    def run(self, argv):
        return CommandResult(list(argv), 127, "", f"{argv[0]}: not run in an in-memory guest")

    def apply(self, changes):
        """Apply planned changes to the tree, as the session would."""
        from guestfix.fix.plan import FileEdit, MakeLink, RemoveLink

        for c in changes:
            if isinstance(c, FileEdit):
                if c.after is None:
                    self.files.pop(c.path, None)
                else:
                    self.files[c.path] = c.after
            elif isinstance(c, RemoveLink):
                self.files.pop(c.path, None)
            elif isinstance(c, MakeLink):
                self.files[c.path] = Link(c.points_to)


def debian_facts(**kw):
    f = GuestFacts(
        distro="debian",
        family="debian",
        package_format="deb",
        init="systemd",
        initrd_tool="initramfs-tools",
        bootloader="grub2",
        grub_dir="/boot/grub",
        grub_cfg="/boot/grub/grub.cfg",
        appliance_disks=["/dev/sda"],
        grub2_platforms=["i386-pc"],
    )
    for k, v in kw.items():
        setattr(f, k, v)
    return f
