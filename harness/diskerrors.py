"""A full, read-only or over-quota disk, named as such: one line with the path, not a traceback or a vague `failed`."""

from __future__ import annotations

import errno

from harness.errors import MedbenchError

DISK_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission is denied",
    errno.EPERM: "the operation is not permitted",
}
# torch.save reports a failed write as a RuntimeError from its zip writer, without the errno
TORCH_WRITE_FAILED = ("file write failed", "PytorchStreamWriter failed")


def disk_error(exc: BaseException, path: object = None) -> MedbenchError | None:
    """The user-facing error for an exception that means 'cannot write here', else None."""
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        where = exc.filename or path or "the output folder"
        return MedbenchError(f"{where}: {DISK_ERRNOS[exc.errno]}; free space, fix the permissions "
                             "or pass a folder on another disk")
    if isinstance(exc, RuntimeError) and any(text in str(exc) for text in TORCH_WRITE_FAILED):
        return MedbenchError(f"cannot write {path or 'a checkpoint'}: the write failed (is the disk full?); "
                             "free space or pass an output folder on another disk")
    return None
