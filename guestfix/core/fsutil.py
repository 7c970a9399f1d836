"""Files: written so that a crash leaves either the old or the new content,
and removed again after a failed step."""

import os
import secrets


def write_atomically(path, content):
    """Replace `path` with `content` (str or bytes) all at once, durably.

    The content goes to a temporary file in the same directory (a rename
    is atomic only within one filesystem), is fsync'ed, renamed over
    `path`, and the directory is fsync'ed so the rename itself survives a
    crash. Raises OSError; the temporary file is removed then.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    data = content.encode() if isinstance(content, str) else content
    # O_EXCL: never write through a file or link someone else put there
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dirfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def remove_files(paths):
    """Remove what a failed step created; what is already gone is no error."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
