"""The tutorial's queue (section 2), sleeps and prints removed: P producers put N items in
all ('包子%s' % i) on one multiprocessing.Queue, C consumers take them until they get None
(one None per consumer, put once every producer is done). Checks that every item was
taken exactly once.  Usage: mp_queue.py N P C"""
import sys
from multiprocessing import Process, Queue, set_start_method


def consumer(q, done):
    got = 0
    while True:
        res = q.get()
        if res is None:
            break
        got += 1
    done.put(got)


def producer(q, first, count):
    for i in range(first, first + count):
        q.put('包子%s' % i)


if __name__ == '__main__':
    set_start_method('fork')
    n, p, c = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    q, done = Queue(), Queue()
    share = [n // p + (1 if i < n % p else 0) for i in range(p)]
    producers = [Process(target=producer, args=(q, sum(share[:i]), share[i])) for i in range(p)]
    consumers = [Process(target=consumer, args=(q, done)) for _ in range(c)]
    for x in producers + consumers:
        x.start()
    for x in producers:
        x.join()
    for _ in range(c):
        q.put(None)
    got = sum(done.get() for _ in range(c))
    for x in consumers:
        x.join()
    sys.exit(0 if got == n else f"expected {n} items, {got} taken")
