#!/usr/bin/env python3
"""Print the open TCP connections of one process to the Fauna emulator.

    tcp_conns.py PID

prints the local ports of PID's ESTABLISHED connections to the port of
FAUNA_ENDPOINT, sorted and comma-separated, or "none".  pg_regress suites
capture it with psql's backquotes and compare two captures in SQL, so that
the (varying) port numbers never reach the expected output:
    SELECT pg_backend_pid() AS pid \\gset
    \\set c1 `python3 test/tcp_conns.py :pid`
Reads /proc (Linux): the socket inodes of /proc/PID/fd matched with
/proc/net/tcp and /proc/net/tcp6.
"""
import os
import sys
import urllib.parse


def sockets_of(pid):
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tcp_conns.py PID")
    pid = int(sys.argv[1])
    port = urllib.parse.urlsplit(os.environ["FAUNA_ENDPOINT"]).port
    inodes = sockets_of(pid)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state != "01" or inode not in inodes:      # 01: ESTABLISHED
                continue
            if int(remote.rsplit(":", 1)[1], 16) == port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    print(",".join(str(p) for p in sorted(ports)) or "none")


if __name__ == "__main__":
    main()
