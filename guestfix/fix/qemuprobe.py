"""A hypervisor path libguestfs would overflow a buffer with.

libguestfs (1.48, and upstream as of this writing) probes QEMU's features
with a shell command it builds in lib/command.c's add_string(), which
grows the buffer only when it is already full and never checks that the
next piece fits. generic_qmp_test() appends the hypervisor's path there,
so some lengths of that path (LIBGUESTFS_HV: 81 to 97 characters among
others; never /usr/bin/qemu-system-x86_64) write past a heap block, and
glibc aborts later ("corrupted size vs. prev_size"). guestfix refuses such
a path before the launch instead.
"""


def overflows(hv):
    """Whether libguestfs' QEMU feature probe writes past its buffer for
    this hypervisor path: generic_qmp_test()'s pieces replayed through
    add_string()'s growth rule, for both of its probes (query-qmp-schema,
    query-kvm)."""

    def quoted(s):
        return ['"'] + [c2 for c in s for c2 in (["\\", c] if c in '$`\\"' else [c])] + ['"']

    for command in ("query-qmp-schema", "query-kvm"):
        pieces = [
            "echo ",
            '\'{ "execute": "qmp_capabilities" }\' ',
            '\'{ "execute": "',
            command,
            "\" }' ",
            '\'{ "execute": "quit" }\' ',
            " | ",
            "QEMU_AUDIO_DRV=none ",
            *quoted(hv),
            " -display none",
            " -machine ",
            *quoted("accel=kvm:tcg"),
            " -qmp stdio",
            "\0",
        ]
        length = alloc = 0
        for piece in pieces:
            if length >= alloc:
                alloc = 256 if alloc == 0 else alloc + max(alloc, len(piece))
            length += len(piece)
            if length > alloc:
                return True
    return False
