"""Start the sandbox as an unprivileged host user when the agent runs as root.

``bwrap`` started by root maps the sandbox's uid to the host's root: without
capabilities, but still the owner of every root-owned file and ``/proc`` entry it
can reach. When this process is root, the sandbox is therefore started as host
uid/gid 65534 (``nobody``/``nogroup``) instead, with ``setpriv`` from util-linux.

``bwrap`` run by ``nobody`` must still be able to mount the interpreter, which
often lives where ``nobody`` cannot walk (``/root/.pyenv``: ``/root`` is mode
0700). bubblewrap resolves every bind source, ``--ro-bind-fd`` included, by
path, so an open descriptor does not help. Instead, root first enters a mount
namespace of its own (``unshare --mount``, invisible to the host), mounts a small
tmpfs on a staging directory there and bind-mounts each interpreter directory
into it; ``nobody`` then binds from the staging copies, which it can reach, to the
original paths inside the sandbox. Files keep their own permissions: the
interpreter's files must be readable by others (they are, for a normal install).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HOST_GID", "HOST_UID", "HostLaunch", "host_launch"]

HOST_UID = 65534
"""The host uid the sandbox runs as when the agent is root (``nobody``)."""
HOST_GID = 65534
"""The host gid the sandbox runs as when the agent is root (``nogroup``)."""

# Directories that exist on a usual Linux and that neither bwrap nor the sandbox
# needs from the host: one of them is covered, in the private mount namespace only.
_STAGE_CANDIDATES = ("/mnt", "/media", "/srv", "/opt", "/dev/shm")
_STAGE_SCRIPT = (
    'stage=$1; n=$2; shift 2; fail() { echo "sandbox setup failed: $1" >&2; exit 125; }; '
    'mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev kimi-stage "$stage" '
    '|| fail "cannot mount a staging tmpfs on $stage"; '
    'i=0; while [ "$i" -lt "$n" ]; do '
    'if [ -d "$1" ]; then mkdir "$stage/$i"; else : > "$stage/$i"; fi; '
    'mount --rbind "$1" "$stage/$i" || fail "cannot stage $1"; '
    'shift; i=$((i + 1)); done; exec "$@"'
)


@dataclass(frozen=True)
class HostLaunch:
    """How to start ``bwrap``: a command prefix and where each directory is bound from."""

    prefix: tuple[str, ...]
    """Prepended to the ``bwrap`` command line (empty when not root)."""
    sources: dict[str, str]
    """For each directory to mount in the sandbox, the path ``bwrap`` binds it from."""
    host_uid: int
    """The host uid the sandbox's processes run as."""


def host_launch(dirs: tuple[str, ...]) -> HostLaunch:
    """The launch prefix that drops to ``nobody`` when this process is root.

    Args:
        dirs: The directories (or files) to mount read-only in the sandbox at the
            same path, e.g. the interpreter's prefixes.

    Returns:
        A `HostLaunch`; when not root, no prefix and every directory bound from
        itself.

    Raises:
        ValueError: If this process is root but ``unshare``, ``mount`` or
            ``setpriv`` (util-linux) is missing, or no staging directory can be
            used.
    """
    if os.geteuid() != 0:
        return HostLaunch(prefix=(), sources={d: d for d in dirs}, host_uid=os.geteuid())
    tools = {name: shutil.which(name) for name in ("unshare", "mount", "setpriv")}
    missing = sorted(name for name, path in tools.items() if path is None)
    if missing:
        msg = (
            f"running as root, the sandbox is started as uid {HOST_UID}, which needs "
            f"util-linux's {', '.join(missing)} (not found)"
        )
        raise ValueError(msg)
    stage = _stage_dir(dirs)
    sources = {d: f"{stage}/{i}" for i, d in enumerate(dirs)}
    prefix = (
        str(tools["unshare"]),
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        _STAGE_SCRIPT,
        "sh",
        stage,
        str(len(dirs)),
        *dirs,
        str(tools["setpriv"]),
        f"--reuid={HOST_UID}",
        f"--regid={HOST_GID}",
        "--clear-groups",
        "--",
    )
    return HostLaunch(prefix=prefix, sources=sources, host_uid=HOST_UID)


def _stage_dir(dirs: tuple[str, ...]) -> str:
    """A top-level directory that holds none of ``dirs`` (it is covered while staging)."""
    for candidate in _STAGE_CANDIDATES:
        path = Path(candidate)
        if path.is_dir() and not path.is_symlink():
            if not any(Path(d) == path or path in Path(d).parents for d in dirs):
                return candidate
    msg = f"no staging directory for the sandbox's mounts (tried {', '.join(_STAGE_CANDIDATES)})"
    raise ValueError(msg)
