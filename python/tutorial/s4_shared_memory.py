"""Section 4 of the tutorial, shared memory, in Python 3:
`python3 s4_shared_memory.py [--no-lock] [--decrements D]`.

Keeps every behaviour of the tutorial's program: a Manager process holds a dict
{'count': 20}; 20 worker processes each take one multiprocessing.Lock, print
`计数器减一,当前为:N` ("counter minus one, now N": the value before the decrement), and
decrement the count; the parent waits for them all and prints the dict, `{'count': 0}`.

Two options, off by default, show the tutorial's warning ("without the lock the data will
surely go wrong"): --no-lock drops the lock, and --decrements D makes each worker decrement D
times (printing only with D = 1), so the lost updates show. The initial count is 20 x D, so
with the lock it always ends at 0. Ours: `counter run` (20 workers, one decrement each) and
`counter run --decrements 200 --lock none`.
"""
from contextlib import nullcontext
from multiprocessing import Manager, Process, Lock
import sys


def work(d, lock, decrements):
    for _ in range(decrements):
        with lock:
            if decrements == 1:
                print(f"计数器减一,当前为:{d['count']}", flush=True)
            d['count'] -= 1


if __name__ == '__main__':
    args = sys.argv[1:]
    locked = '--no-lock' not in args
    decrements = int(args[args.index('--decrements') + 1]) if '--decrements' in args else 1
    lock = Lock() if locked else nullcontext()
    with Manager() as m:
        dic = m.dict({'count': 20 * decrements})
        p_l = []
        for i in range(20):
            p = Process(target=work, args=(dic, lock, decrements))
            p_l.append(p)
            p.start()

        for p in p_l:
            p.join()
        print(dic)
