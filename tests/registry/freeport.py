#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Free TCP ports for the test bed (stdlib only).

    freeport.py [--addr ADDR]... [--exclude PORT]...   print a free port
    freeport.py [--addr ADDR]... --check PORT          exit 0 if PORT is free

Without --check the kernel chooses the port (bind to port 0 on the first
address); it is released before this program exits, so the caller binds it
right away and retries with another port if something took it meanwhile.
The port is free on every --addr (default 127.0.0.1) and not an --exclude.
--check binds with SO_REUSEADDR, as the daemons do: a port in TIME_WAIT is
free, one that anybody listens on (any address) is not.  Exit status 1 when
no port was found or PORT is in use, 2 on a usage error.
"""

import argparse
import socket
import sys


def bindable(addr, port, reuse):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        return s
    except OSError:
        s.close()
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", action="append", default=[])
    ap.add_argument("--exclude", action="append", type=int, default=[])
    ap.add_argument("--check", type=int)
    args = ap.parse_args()
    addrs = args.addr or ["127.0.0.1"]

    if args.check is not None:
        held = [bindable(a, args.check, True) for a in addrs]
        ok = all(held)
        for s in held:
            if s:
                s.close()
        return 0 if ok else 1

    rejected = []  # held open so that the kernel offers another port
    try:
        for _ in range(50):
            first = bindable(addrs[0], 0, False)
            if first is None:
                continue
            port = first.getsockname()[1]
            others = [bindable(a, port, True) for a in addrs[1:]]
            for s in others:
                if s:
                    s.close()
            if port in args.exclude or not all(others):
                rejected.append(first)
                continue
            first.close()
            print(port)
            return 0
    finally:
        for s in rejected:
            s.close()
    print("freeport.py: no free port found", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
