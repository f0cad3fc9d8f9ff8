"""Section 3 of the tutorial, client.py, in Python 3: `python3 s3_client.py [HOST [PORT]]`.

Keeps every behaviour of the tutorial's client: it connects to localhost:8888 (HOST and PORT
only for tests), reads one line from its input (input(), Python 3's raw_input(), which drops
the newline), sends it in one send() without a newline, prints what one recv(1024) returns,
and closes. So the server must answer bytes that end without a newline, and without the
client closing first: the tutorial's server answers whatever its one recv() returned, and
ours answers an unfinished line once the client pauses (`server --pause`, 200 ms).

The only change is Python 3's: input() for raw_input(), bytes on the socket, print() as a
function (it prints the reply decoded, and its newline).
"""
import socket
import sys

if __name__ == '__main__':
    host = sys.argv[1] if len(sys.argv) > 1 else "localhost"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8888
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((host, port))

    instr = input()
    client.send(instr.encode())
    print(client.recv(1024).decode())

    client.close()
