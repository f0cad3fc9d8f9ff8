"""The semaphore (section 5; its code is missing from the tutorial's page, so this is the
usual multiprocessing form): W processes each go inside T times through a
multiprocessing.Semaphore(K) and leave at once. Checks that at most K were ever inside, with a
shared gauge under a Lock (as `counter semaphore` keeps its gauges under its lock).
Usage: semaphore.py W K T"""
import sys
from multiprocessing import Process, Semaphore, Lock, Value


def worker(sem, lock, inside, most, times):
    for _ in range(times):
        with sem:
            with lock:
                inside.value += 1
                most.value = max(most.value, inside.value)
            with lock:
                inside.value -= 1


if __name__ == '__main__':
    w, k, times = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sem, lock = Semaphore(k), Lock()
    inside, most = Value('i', 0, lock=False), Value('i', 0, lock=False)
    ps = [Process(target=worker, args=(sem, lock, inside, most, times)) for _ in range(w)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    bad = [p.exitcode for p in ps if p.exitcode != 0]
    sys.exit(0 if not bad and 0 < most.value <= k else f"at most {most.value} inside, K={k}; exits {bad}")
