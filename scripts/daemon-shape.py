#!/usr/bin/env python3
"""Counts the shape of the daemon's central class at a git revision: its files
(Daemon.swift and Daemon+*.swift), their lines, the stored properties of `Daemon`
(computed ones and statics left out; "open" = not `private`/`fileprivate`, or
`private(set)`), and the methods declared on it in those files.

    scripts/daemon-shape.py [REV...]      (default: HEAD)

A rough measure for comparing revisions (issue 22), not a Swift parser."""
import re
import subprocess
import sys


def shape(rev):
    names = subprocess.check_output(['git', 'ls-tree', '-r', '--name-only', rev, 'Sources/ClipDaemon/']).decode().split()
    files = [f for f in names if re.search(r'/Daemon(\+[^/]*)?\.swift$', f)]
    lines = stored = open_stored = methods = 0
    for name in files:
        text = subprocess.check_output(['git', 'show', f'{rev}:{name}']).decode()
        lines += text.count('\n')
        owner = None
        for line in text.split('\n'):
            top = re.match(r'^(?:public |private |fileprivate )?(?:final class|class|extension|struct|enum|protocol) (\w+)', line)
            if top:
                owner = top.group(1)
                continue
            if owner != 'Daemon':
                continue
            member = re.match(r'^    ((?:public |private\(set\) |private |fileprivate )?)(?:lazy )?(var|let) \w+', line)
            if member and ' static ' not in line:
                head = line.split('=')[0]
                computed = line.rstrip().endswith('{') or ('{' in line and '=' not in head.split('{')[0] and line.rstrip().endswith('}'))
                if not computed:
                    stored += 1
                    access = member.group(1)
                    if 'private' not in access or 'private(set)' in access:
                        open_stored += 1
            if re.match(r'^    (?:@\w+ )*(?:public |private |fileprivate )*(?:static )?func ', line):
                methods += 1
    return f'{rev}: {len(files)} files, {lines} lines; Daemon: {stored} stored properties ({open_stored} not private), {methods} methods'


for rev in sys.argv[1:] or ['HEAD']:
    print(shape(rev))
