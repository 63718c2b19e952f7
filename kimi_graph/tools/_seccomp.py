"""A seccomp filter that keeps sandboxed code away from the kernel's keyrings.

A process inherits its parent's session keyring, and "possesses" every key in it
whatever its uid: without a filter, sandboxed code could read and write keys the
agent holds, and concurrent runs could pass data through them. The filter built
here answers ``add_key``, ``request_key`` and ``keyctl`` with ``EPERM``, and any
system call of a foreign ABI (32-bit x86 or x32 on x86-64) likewise, so the
numbers cannot be reached another way. bubblewrap loads it (``--seccomp FD``)
just before it starts the program; a filter survives ``execve`` and is inherited
by every child.

The program is a classic BPF one (``struct sock_filter``), written out here
rather than with libseccomp, which is not a dependency.
"""

from __future__ import annotations

import errno
import platform
import struct
from typing import NamedTuple

__all__ = ["keyring_filter"]

# BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
# seccomp return values (linux/seccomp.h)
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
# offsets in struct seccomp_data
_NR = 0
_ARCH = 4
_X32_BIT = 0x40000000


class _Abi(NamedTuple):
    audit_arch: int
    add_key: int
    request_key: int
    keyctl: int
    x32_bit: bool


_ABIS = {
    "x86_64": _Abi(0xC000003E, 248, 249, 250, x32_bit=True),
    "aarch64": _Abi(0xC00000B7, 217, 218, 219, x32_bit=False),
}


def keyring_filter(machine: str | None = None) -> bytes | None:
    """The filter program for this machine, as bubblewrap's ``--seccomp`` reads it.

    Args:
        machine: ``platform.machine()`` by default.

    Returns:
        The packed ``struct sock_filter`` array, or None on an architecture this
        module has no system call numbers for.
    """
    abi = _ABIS.get(machine or platform.machine())
    if abi is None:
        return None
    deny = _RET_ERRNO | errno.EPERM
    body: list[tuple[int, int, int, int]] = []
    # Every instruction after the arch check jumps to the last one (deny) when it
    # matches; the index arithmetic is done once the list is complete.
    checks: list[tuple[int, int]] = []
    if abi.x32_bit:
        checks.append((_JGE_K, _X32_BIT))
    checks += [(_JEQ_K, abi.add_key), (_JEQ_K, abi.request_key), (_JEQ_K, abi.keyctl)]
    body.append((_LD_W_ABS, 0, 0, _ARCH))
    # arch matches: go on; otherwise jump to deny (past the nr load, checks and allow)
    body.append((_JEQ_K, 0, len(checks) + 2, abi.audit_arch))
    body.append((_LD_W_ABS, 0, 0, _NR))
    for i, (op, k) in enumerate(checks):
        to_deny = len(checks) - i  # the remaining checks, then the allow
        body.append((op, to_deny, 0, k))
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    body.append((_RET_K, 0, 0, deny))
    return b"".join(struct.pack("=HBBI", *ins) for ins in body)
