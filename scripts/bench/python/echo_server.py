"""The tutorial's server.py (section 3), ported to Python 3 and made to answer every line of
a connection (the original answers one recv and never closes the connection it answered):
each recv(1024) is answered with b'test: ' and what came. One connection at a time, as in
the tutorial, or a thread per connection with --threaded. Prints `ready: ADDRESS` on stderr.
Usage: echo_server.py [--threaded] ADDRESS   (tcp:HOST:PORT, unix:PATH, local:NAME, udp:HOST:PORT)"""
import os
import socket
import sys
import threading


def address(arg):
    kind, _, rest = arg.partition(':')
    if kind in ('tcp', 'udp'):
        host, _, port = rest.rpartition(':')
        return kind, socket.AF_INET, (host, int(port))
    if kind == 'unix':
        return kind, socket.AF_UNIX, rest
    if kind == 'local':
        return kind, socket.AF_UNIX, '\0' + rest  # an abstract socket, as local: on Linux
    sys.exit(f'bad address {arg!r}')


def converse(connection):
    with connection:
        while True:
            data = connection.recv(1024)
            if not data:
                break
            connection.sendall(b'test: ' + data)


if __name__ == '__main__':
    threaded = '--threaded' in sys.argv
    arg = [a for a in sys.argv[1:] if a != '--threaded'][0]
    kind, family, where = address(arg)
    if kind == 'unix' and os.path.exists(where):
        os.unlink(where)
    if kind == 'udp':
        server = socket.socket(family, socket.SOCK_DGRAM)
        server.bind(where)
        print(f'ready: udp:{where[0]}:{server.getsockname()[1]}', file=sys.stderr, flush=True)
        while True:
            data, peer = server.recvfrom(65536)
            server.sendto(b'test: ' + data, peer)
    server = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(where)
    server.listen(1024 if threaded else 0)
    shown = f'tcp:{where[0]}:{server.getsockname()[1]}' if kind == 'tcp' else arg
    print(f'ready: {shown}', file=sys.stderr, flush=True)
    while True:
        connection, _ = server.accept()
        if family == socket.AF_INET:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if threaded:
            threading.Thread(target=converse, args=(connection,), daemon=True).start()
        else:
            converse(connection)
