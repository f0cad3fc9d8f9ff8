"""A producer in ten lines: python3 produce.py ADDRESS [N [NAME]] (a broker, or `consumer -l`)."""
import sys
import baozi_ipc

address, n, name = sys.argv[1], int((sys.argv[2:] or [10])[0]), (sys.argv[3:] or ["py"])[0]
try:
    with baozi_ipc.Producer(address, name=name) as p:
        for i in range(n):
            p.put(f"baozi {i}".encode())
    print(f"{name}: sent {n}, the other side took {p.received}")
except baozi_ipc.Error as e:
    sys.exit(f"{name}: error: {e}")
