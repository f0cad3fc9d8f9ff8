"""The tutorial's client.py (section 3), ported to Python 3 and made to send N lines, each
after the reply to the one before, timing every round trip; prints min, median, p99 and max
in the words of `client --count`.
Usage: echo_client.py ADDRESS N   (tcp:HOST:PORT, unix:PATH, local:NAME, udp:HOST:PORT)"""
import math
import socket
import sys
import time

from echo_server import address


def micros(s):
    us = s * 1e6
    return f'{us:.1f}us' if us < 10_000 else f'{us / 1000:.1f}ms'


if __name__ == '__main__':
    arg, n = sys.argv[1], int(sys.argv[2])
    kind, family, where = address(arg)
    client = socket.socket(family, socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM)
    client.connect(where)
    if family == socket.AF_INET and kind == 'tcp':
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    line, expected = b'baozi\n', b'test: baozi\n'
    times = []
    clock = time.perf_counter
    started = clock()
    for i in range(n):
        t = clock()
        client.send(line)
        reply = client.recv(1024)
        while not reply.endswith(b'\n'):
            more = client.recv(1024)
            if not more:
                break
            reply += more
        times.append(clock() - t)
        if reply != expected:
            sys.exit(f'reply {i + 1} is not an echo: {reply!r}')
    total = clock() - started
    client.close()
    times.sort()
    at = lambda q: times[min(max(math.ceil(len(times) * q), 1), len(times)) - 1]
    print(f'echo_client.py: {n} round trips over {arg} in {total:.3f}s: min {micros(times[0])}, '
          f'median {micros(at(0.5))}, p99 {micros(at(0.99))}, max {micros(times[-1])}')
