"""The tutorial's shared memory (section 4), print removed: W processes each decrement
Manager().dict()['count'] D times under a multiprocessing.Lock. Checks the final count.
Usage: counter.py W D"""
import sys
from multiprocessing import Manager, Process, Lock


def work(d, lock, times):
    for _ in range(times):
        with lock:
            d['count'] -= 1


if __name__ == '__main__':
    w, times = int(sys.argv[1]), int(sys.argv[2])
    lock = Lock()
    with Manager() as m:
        dic = m.dict({'count': w * times})
        p_l = []
        for i in range(w):
            p = Process(target=work, args=(dic, lock, times))
            p_l.append(p)
            p.start()
        for p in p_l:
            p.join()
        sys.exit(0 if dic['count'] == 0 else f"final count {dic['count']}, expected 0")
