"""A consumer in ten lines: python3 consume.py ADDRESS [NAME] [--listen]
(from a broker; with --listen, from the one producer that connects, as `consumer -l`)."""
import sys
import baozi_ipc

args = [a for a in sys.argv[1:] if a != "--listen"]
name = (args[1:] or ["pyc"])[0]
try:
    for item in baozi_ipc.Consumer(args[0], name=name, listen="--listen" in sys.argv):
        again = f" (redelivered, attempt {item.attempt})" if item.attempt > 1 else ""
        print(f"{name} ate baozi {item.seq} from {item.producer}{again}", flush=True)
except baozi_ipc.Error as e:
    sys.exit(f"{name}: error: {e}")
