"""Which CPUs two processes ran on during one run of a command: the `shm:` rows' placement
(on a 2-vCPU machine the scheduler sometimes keeps both ends on one CPU, and the figures then
differ several times over). Standard library only.

  placement.py LABEL NAMES COMMAND

Runs COMMAND (a shell command line), samples every 2 ms field 39 of /proc/PID/stat (the CPU
the process's main thread last ran on) of every process that COMMAND started whose name is
one of NAMES (comma-separated: producer,consumer; NAME=PID for a process started elsewhere,
a server say), and prints one line:

  LABEL: producer cpu0 61% cpu1 39%; consumer cpu1 100%; on the same CPU in 12% of samples

Two processes of the same name (floor-shm send and recv) are told apart by the order they
were first seen: floor-shm#1, floor-shm#2.

Exits with COMMAND's status.
"""
import collections
import os
import subprocess
import sys
import time


def cpu_of(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
        return int(stat.rsplit(')', 1)[1].split()[36])  # field 39, counting from 1
    except (OSError, IndexError, ValueError):
        return None


def parent_of(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def named(names, root, given):
    """The processes under `root` whose name is in `names`, and the `given` ones."""
    found = {pid: name for name, pid in given.items() if os.path.exists(f'/proc/{pid}')}
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/comm') as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in names:
                up = int(pid)
                while up not in (None, 0, 1, root):
                    up = parent_of(up)
                if up == root:
                    found[int(pid)] = comm
    return found


def main(label, names, command):
    given = {n.split('=')[0]: int(n.split('=')[1]) for n in names.split(',') if '=' in n}
    names = [n.split('=')[0] for n in names.split(',')]
    child = subprocess.Popen(command, shell=True)
    seen = {}  # pid -> (name, Counter of CPUs), in the order first seen
    same = together = 0
    while child.poll() is None:
        now = []
        for pid, comm in sorted(named(names, child.pid, given).items()):
            cpu = cpu_of(pid)
            if cpu is not None:
                seen.setdefault(pid, (comm, collections.Counter()))[1][cpu] += 1
                now.append(cpu)
        if len(now) >= 2:
            together += 1
            same += len(set(now)) == 1
        time.sleep(0.002)
    parts = []
    for comm in names:
        mine = [counts for c, counts in seen.values() if c == comm]
        for i, counts in enumerate(mine):
            total = sum(counts.values())
            cpus = ' '.join(f'cpu{c} {100 * n / total:.0f}%' for c, n in sorted(counts.items()))
            parts.append(f"{comm}{f'#{i + 1}' if len(mine) > 1 else ''} {cpus}")
        if not mine:
            parts.append(f'{comm} not seen')
    both = f'on the same CPU in {100 * same / together:.0f}% of samples' if together else \
        'never seen running together'
    print(f"{label}: {'; '.join(parts)}; {both}")
    return child.returncode


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
