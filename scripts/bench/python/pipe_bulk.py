"""The tutorial's pipe (section 1) moving bytes: N chunks of SIZE bytes through
multiprocessing.Pipe() with send_bytes/recv_bytes. Checks the byte count.
Usage: pipe_bulk.py N SIZE [--oneway] [--cpus P,C]
--oneway: Pipe(duplex=False), an OS pipe; without it, the tutorial's Pipe(), which on
Linux is a socketpair (a Unix socket)
--cpus P,C: the producer (this process) runs on CPU P only, the consumer on CPU C, as
`taskset` pins ours in the same row"""
import os
import sys
from multiprocessing import Process, Pipe


def pin(cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def consumer(p, total, cpu):
    pin(cpu)
    left, right = p
    left.close()
    got = 0
    while True:
        try:
            got += len(right.recv_bytes())
        except EOFError:
            right.close()
            break
    sys.exit(0 if got == total else f"consumer: expected {total} bytes, {got} arrived")


def producer(n, size, p):
    left, right = p
    right.close()
    chunk = b'x' * size
    for _ in range(n):
        left.send_bytes(chunk)
    left.close()


if __name__ == '__main__':
    n, size = int(sys.argv[1]), int(sys.argv[2])
    cpus = [None, None]
    if '--cpus' in sys.argv:
        cpus = [int(c) for c in sys.argv[sys.argv.index('--cpus') + 1].split(',')]
    if '--oneway' in sys.argv:
        right, left = Pipe(duplex=False)  # (receiving end, sending end)
    else:
        left, right = Pipe()
    c1 = Process(target=consumer, args=((left, right), n * size, cpus[1]))
    c1.start()
    pin(cpus[0])
    producer(n, size, (left, right))
    right.close()
    left.close()
    c1.join()
    sys.exit(c1.exitcode)
