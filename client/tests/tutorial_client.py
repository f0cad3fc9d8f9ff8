"""The tutorial's client.py (section 3), ported to Python 3, run by tests/socket.rs against
our server: python3 tutorial_client.py [HOST [PORT]] < a line of input.

The tutorial's Python 2 code, for comparison:

    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(("localhost", 8888))
    instr = raw_input()
    client.send(instr)
    print client.recv(1024)
    client.close()

This variant sends a line, with the newline that input() strips, and reads the reply up to
its newline: what a careful client does (nc, socat), where one send() and one recv(1024)
may each move only part of the bytes. The faithful port, which sends `hello` alone and
prints what one recv(1024) returns, is python/tutorial/s3_client.py, tested against our
server in tests/tutorial.rs (our server answers it after a pause: `server --pause`).
Other changes: Python 3 (input(), bytes, print()); the host and port can be given.
"""
import socket
import sys

if __name__ == '__main__':
    host = sys.argv[1] if len(sys.argv) > 1 else "localhost"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8888
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((host, port))

    instr = input()
    client.sendall((instr + "\n").encode())
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = client.recv(1024)
        if not chunk:
            break
        reply += chunk
    print(reply.decode(errors="replace"), end="")

    client.close()
