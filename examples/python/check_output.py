#!/usr/bin/env python3
"""check_output.py <expected> <command> [args...]: run an example and check its output.

Passes when the command exits 0 and, for every line "<count> <regex>" of the
expected file, the regular expression occurs exactly <count> times in the
whole output (stdout and stderr together). Counting over the whole output,
not line by line, keeps the check exact when the ranks' prints interleave
(the tutorial's print() calls write each argument separately).
"""
import os
import re
import socket
import subprocess
import sys


def example_env():
    """The environment an example runs in: its own free MASTER_PORT, and
    block-buffered output, so that each rank's lines stay together."""
    env = dict(os.environ)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        env['MASTER_PORT'] = str(s.getsockname()[1])
    env.pop('PYTHONUNBUFFERED', None)
    return env


def main():
    expected, command = sys.argv[1], sys.argv[2:]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=example_env())
    out = done.stdout
    sys.stdout.write(out)
    failed = done.returncode != 0
    if failed:
        print('check_output: the command exited with %d' % done.returncode)
    with open(expected) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            count, pattern = line.split(' ', 1)
            found = len(re.findall(pattern, out))
            if found != int(count):
                print('check_output: %r occurs %d times; expected %s' % (pattern, found, count))
                failed = True
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
