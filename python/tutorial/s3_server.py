"""Section 3 of the tutorial, server.py, in Python 3: `python3 s3_server.py [PORT]`.

Keeps every behaviour of the tutorial's server: it listens on localhost:8888 (PORT, only for
tests that need a free port) with a backlog of 0, and for each connection, one at a time,
answers what one recv(1024) returned with `test: ` before it, in one send(). It never reads
a second message from a client, and (as in the tutorial, whose `connection.close()` is
after an endless loop) never closes a connection itself: Python closes the previous one when
the next accept() replaces it. It prints nothing and runs until Ctrl-C.

Python 3 needs bytes: `b"test: %s" % data` is the tutorial's `"test: %s" % data`. Our
`client --message hello` gets `test: hello` from it: one line, one reply (a second line
would wait for ever, as it would with the tutorial's).
"""
import socket
import sys

if __name__ == '__main__':
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("localhost", port))
    server.listen(0)
    while True:
        connection, address = server.accept()
        connection.send(b"test: %s" % connection.recv(1024))
    connection.close()
