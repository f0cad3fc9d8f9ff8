"""Section 1 of the tutorial, the pipe, in Python 3: run it as `python3 s1_pipe.py [SECONDS]`.

Keeps every behaviour of the tutorial's program: a parent process makes a
multiprocessing.Pipe(), starts one child process `c1` that receives on one end, and itself
sends the numbers 0 to 9 on the other, one a second (SECONDS, 1 by default, only shortens
the wait for demos and tests); the child prints `c1 收到包子:N` ("c1 received baozi N") for
each, and ends on EOFError once every copy of the sending end is closed; the parent then
prints `进程间通信-管道-主进程` ("IPC - pipe - main process").

What it cannot do: talk to ours. A multiprocessing Pipe carries pickled Python objects between
a parent and the child it forked; our `producer --spawn-consumer` is the same parent and
child, and `producer stdio | consumer stdio` the same pipe between any two programs. The
tutorial's `if __name__  '__main__'` lost its `==` on the page; here it is back.
"""
from multiprocessing import Process, Pipe
import sys
import time


def consumer(p, name):
    left, right = p
    left.close()
    while True:
        try:
            baozi = right.recv()
            print('%s 收到包子:%s' % (name, baozi), flush=True)
        except EOFError:
            right.close()
            break


def producer(seq, p, interval):
    left, right = p
    right.close()
    for i in seq:
        left.send(i)
        time.sleep(interval)
    else:
        left.close()


if __name__ == '__main__':
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    left, right = Pipe()

    c1 = Process(target=consumer, args=((left, right), 'c1'))
    c1.start()

    seq = (i for i in range(10))
    producer(seq, (left, right), interval)

    right.close()
    left.close()

    c1.join()
    print('进程间通信-管道-主进程')
