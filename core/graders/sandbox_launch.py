"""Launches one python grader inside a sandbox; run as ``python -I -S sandbox_launch.py CONFIG``.

Standard library only (it runs before any isolation and must import nothing of the service).
It creates new mount, network, PID, IPC and UTS namespaces (and a user namespace when the service
does not run as root), forks the sandbox's PID 1, which

1. mounts a small tmpfs as the new root and bind-mounts read-only only what Python needs: ``/usr``,
   ``/lib*``, ``/bin``, the interpreter's prefix and the third-party packages (at
   ``/opt/site-packages``): no data dir, no ``/proc``, no ``/etc``, no home directories;
2. ``chroot``s into it, works in ``/tmp`` (on the tmpfs);
3. drops to an unprivileged uid of its own (as root: a fresh uid per launch, so ``RLIMIT_NPROC``
   counts only this sandbox) which loses every capability;
4. sets rlimits (address space, CPU seconds, processes, file size, open files, no core dumps),
   asks the kernel to kill it when the launcher dies, and execs the runner with an empty
   environment.

The network namespace has only a downed loopback, so no connection can be opened. Exit status 70
with a message on stderr means the sandbox could not be built.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
PR_SET_PDEATHSIG = 1
SANDBOX_UID = 1000  # the uid inside a user namespace (non-root hosts)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _bind_readonly(source: str, target: str) -> None:
    os.makedirs(target, exist_ok=True)
    _mount(source, target, None, MS_BIND | MS_REC)
    # A remount must keep the flags the kernel locked on the original mount (user namespaces).
    current = os.statvfs(target).f_flag
    keep = current & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if current & 4096:  # ST_RELATIME
        keep |= MS_RELATIME
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | keep)


def _build_root(cfg: dict) -> None:
    root = cfg["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmpfs_bytes']},mode=755")
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path):
            _bind_readonly(path, root + path)
    for path in cfg["extra_readonly"]:  # the interpreter's prefix, when outside /usr
        if os.path.isdir(path) and not os.path.exists(root + path):
            _bind_readonly(path, root + path)
    if cfg.get("site_packages") and os.path.isdir(cfg["site_packages"]):
        _bind_readonly(cfg["site_packages"], root + "/opt/site-packages")
    os.makedirs(root + "/tmp", exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    with open(root + "/runner.py", "w") as fh:
        fh.write(cfg["runner"])
    os.chroot(root)
    os.chdir("/tmp")


def _limit(cfg: dict) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (cfg["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu_seconds"], cfg["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _sandbox(cfg: dict) -> None:
    """PID 1 of the new namespaces: build the root, drop privileges, exec the runner."""
    _build_root(cfg)
    if cfg["as_root"]:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])  # a fresh unprivileged uid: every capability is gone
    _limit(cfg)
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONIOENCODING": "utf-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    os.execve(cfg["python"], [cfg["python"], "-I", "-S", "-B", "/runner.py"], env)


def main() -> int:
    cfg = json.loads(sys.argv[1])
    try:
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        if not cfg["as_root"]:
            uid, gid = os.geteuid(), os.getegid()
            _check(_libc.unshare(flags | CLONE_NEWUSER), "unshare")
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{SANDBOX_UID} {uid} 1")
            _write("/proc/self/gid_map", f"{SANDBOX_UID} {gid} 1")
        else:
            _check(_libc.unshare(flags), "unshare")
    except OSError as exc:
        print(f"sandbox: cannot create namespaces: {exc}", file=sys.stderr)
        return 70
    pid = os.fork()
    if pid == 0:
        try:
            _sandbox(cfg)
        except BaseException as exc:  # noqa: BLE001 - anything here means no sandbox
            print(f"sandbox: {exc}", file=sys.stderr)
            os._exit(70)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
