"""/etc/default/grub: the shell assignments GRUB's scripts source.

One parser for every use: bootloader-config rewrites the GRUB_CMDLINE_*
values, default-kernel reads and sets GRUB_DEFAULT, direct boot reads the
kernel arguments.
"""

import re

PATH = "/etc/default/grub"

# NAME=value, NAME="value" or NAME='value', maybe exported, maybe followed
# by a comment. A quoted value runs to its closing quote, so a `#` inside
# the quotes is part of it.
ASSIGNMENT = re.compile(
    r"^(?P<prefix>\s*(?:export\s+)?(?P<name>[A-Za-z_]\w*)=)"
    r"(?:(?P<quote>[\"'])(?P<quoted>.*?)(?P=quote)|(?P<bare>[^\s#\"']*))"
    r"(?P<rest>\s*(?:#.*)?)$"
)


class Assignment:
    """One assignment line, split so it can be written back changed."""

    def __init__(self, match):
        self.prefix = match.group("prefix")
        self.name = match.group("name")
        self.quote = match.group("quote") or ""
        self.value = match.group("quoted") if self.quote else match.group("bare")
        self.rest = match.group("rest") or ""

    def with_value(self, value, quote=None):
        """The line with another value; unquoted values get double quotes."""
        q = quote or self.quote or '"'
        return f"{self.prefix}{q}{value}{q}{self.rest}"


def assignment(line):
    """The Assignment on a line (without its newline), or None."""
    m = ASSIGNMENT.match(line)
    return Assignment(m) if m else None


def values(text):
    """{name: value} of every assignment; the last one of a name wins, as
    in the shell."""
    out = {}
    for line in (text or "").splitlines():
        a = assignment(line)
        if a:
            out[a.name] = a.value
    return out


def value(text, name):
    return values(text).get(name)


def set_value(text, name, new):
    """`text` with NAME="new": every assignment of it replaced, or one
    appended."""
    line = f'{name}="{new}"'
    pattern = re.compile(rf"^\s*{re.escape(name)}=.*$", re.M)
    if pattern.search(text):
        return pattern.sub(lambda m: line, text)
    return (text if not text or text.endswith("\n") else text + "\n") + line + "\n"
