"""Which CPUs two processes ran on during one run of a command: the `shm:` rows' placement
(on a 2-vCPU machine the scheduler sometimes keeps both ends on one CPU, and the figures then
differ several times over). Standard library only.

  placement.py LABEL NAMES COMMAND

Runs COMMAND (a shell command line), samples every 2 ms field 39 of /proc/PID/stat (the CPU
each thread last ran on) for every running process whose name is one of NAMES
(comma-separated: producer,consumer), and prints one line:

  LABEL: producer cpu0 61% cpu1 39%; consumer cpu1 100%; on the same CPU in 12% of samples

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


def named(names):
    found = {}
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/comm') as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in names:
                found[int(pid)] = comm
    return found


def main(label, names, command):
    names = names.split(',')
    child = subprocess.Popen(command, shell=True)
    seen = collections.defaultdict(collections.Counter)
    same = together = 0
    while child.poll() is None:
        now = {}
        for pid, comm in named(names).items():
            cpu = cpu_of(pid)
            if cpu is not None:
                seen[comm][cpu] += 1
                now.setdefault(comm, cpu)
        if len(now) >= 2:
            together += 1
            same += len(set(now.values())) == 1
        time.sleep(0.002)
    parts = []
    for comm in names:
        counts = seen.get(comm)
        if counts:
            total = sum(counts.values())
            cpus = ' '.join(f'cpu{c} {100 * n / total:.0f}%' for c, n in sorted(counts.items()))
            parts.append(f'{comm} {cpus}')
        else:
            parts.append(f'{comm} not seen')
    both = f'on the same CPU in {100 * same / together:.0f}% of samples' if together else \
        'never seen running together'
    print(f"{label}: {'; '.join(parts)}; {both}")
    return child.returncode


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
