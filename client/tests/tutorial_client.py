"""The tutorial's client.py (section 3), ported to Python 3, run by tests/socket.rs against
our server: python3 tutorial_client.py [HOST [PORT]] < a line of input.

The tutorial's Python 2 code, for comparison:

    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(("localhost", 8888))
    instr = raw_input()
    client.send(instr)
    print client.recv(1024)
    client.close()

Changes, each needed to make it a working program rather than a sketch:
- Python 3: input() instead of raw_input(), bytes on the socket, print().
- The line is sent with the newline that input() strips: the server answers lines, and
  without it the line would only end when the client half-closes, which this client never
  does before it reads.
- sendall() instead of send(), and the reply is read up to its newline: one send() and one
  recv(1024) may each move only part of the bytes.
- The host and port can be given (the tests use a port the system chose).
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
