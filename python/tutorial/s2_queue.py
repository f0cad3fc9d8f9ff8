"""Section 2 of the tutorial, the queue, in Python 3: run it as `python3 s2_queue.py [UNIT]`.

Keeps every behaviour of the tutorial's program: with the `fork` start method (Unix only,
as in the tutorial), a parent makes a multiprocessing.Queue, starts a producer process `p1`
and a consumer process `c1`, prints `进程间通信-队列-主进程` ("IPC - queue - main process")
at once and does not wait for them. The producer sleeps a random 1 to 3 units before each of
its 10 items `包子0` .. `包子9` ("baozi 0"), puts it and prints `PID 生产了 包子N` ("PID
made baozi N") in cyan, then puts None, the end. The consumer takes each item, sleeps a
random 1 to 3 units, and prints `PID包子N` in magenta, until the None. A unit is a second
(UNIT, 1 by default, only shortens the waits for demos and tests).

Our broker, producer and consumer do this between unrelated programs:
`broker --producers 1`, `producer local:baozi-queue --delay 1s..3s`,
`consumer local:baozi-queue --eat 1s..3s`. A Python program joins that queue with
`python/baozi_ipc.py` (README: "From your own code").
"""
from multiprocessing import Process, Queue, set_start_method
import os
import random
import sys
import time

UNIT = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def consumer(q):
    while True:
        res = q.get()
        if res is None: break  # the end: stop
        time.sleep(random.randint(1, 3) * UNIT)
        print('\033[45m%s%s\033[0m' % (os.getpid(), res), flush=True)


def producer(q):
    for i in range(10):
        time.sleep(random.randint(1, 3) * UNIT)
        res = '包子%s' % i
        q.put(res)
        print('\033[46m%s 生产了 %s\033[0m' % (os.getpid(), res), flush=True)
    q.put(None)  # the end


if __name__ == '__main__':
    set_start_method('fork')

    q = Queue()
    # the cooks
    p1 = Process(target=producer, args=(q,))

    # the eaters
    c1 = Process(target=consumer, args=(q,))

    p1.start()
    c1.start()
    print('进程间通信-队列-主进程', flush=True)
