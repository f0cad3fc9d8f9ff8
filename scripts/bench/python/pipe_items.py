"""The tutorial's pipe (section 1), sleeps and prints removed: a producer sends N items
(the numbers 0..N-1) through multiprocessing.Pipe() to a consumer child, which reads until
EOFError. Checks the count.  Usage: pipe_items.py N [--oneway]
--oneway: Pipe(duplex=False), an OS pipe; without it, the tutorial's Pipe(), which on
Linux is a socketpair (a Unix socket)"""
import sys
from multiprocessing import Process, Pipe


def consumer(p, n):
    left, right = p
    left.close()
    got = 0
    while True:
        try:
            right.recv()
            got += 1
        except EOFError:
            right.close()
            break
    sys.exit(0 if got == n else f"consumer: expected {n} items, {got} arrived")


def producer(seq, p):
    left, right = p
    right.close()
    for i in seq:
        left.send(i)
    else:
        left.close()


if __name__ == '__main__':
    n = int(sys.argv[1])
    if '--oneway' in sys.argv:
        right, left = Pipe(duplex=False)  # (receiving end, sending end)
    else:
        left, right = Pipe()
    c1 = Process(target=consumer, args=((left, right), n))
    c1.start()
    producer(range(n), (left, right))
    right.close()
    left.close()
    c1.join()
    sys.exit(c1.exitcode)
