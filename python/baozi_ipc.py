"""baozi_ipc: talk to baozi-ipc's producer, consumer and broker from Python 3, standard library
only, written from docs/wire.md (the same bytes as common/tests/vectors/*.bin).

    import baozi_ipc

    # a producer: into a broker (or a `consumer -l`); the end frame, then the receipt
    with baozi_ipc.Producer("tcp:127.0.0.1:7000", name="py1") as p:
        for i in range(10):
            p.put(b"")                   # baozi 0, 1, ... (the payload is optional)
    print("the broker took", p.received)

    # a consumer: from a broker; each item is acknowledged when the loop asks for the next
    for item in baozi_ipc.Consumer("tcp:127.0.0.1:7000", name="pyc"):
        print(f"pyc ate baozi {item.seq} from {item.producer}")

    # or listen for one producer, as `consumer -l` does (our `producer ADDRESS` connects)
    for item in baozi_ipc.Consumer("tcp:127.0.0.1:9000", listen=True):
        ...

Addresses as the programs take them: tcp:HOST:PORT, unix:PATH, local:NAME (on Linux, the
abstract socket our local: is). Errors are `baozi_ipc.Error`, with one line that says why.
"""
import collections
import os
import socket
import struct
import sys

MAGIC = b"BAOZIIPC"
VERSION = 3
KIND = 1
PRODUCER, CONSUMER, BROKER, OBSERVER = 1, 2, 3, 4
ROLES = {PRODUCER: "producer", CONSUMER: "consumer", BROKER: "broker", OBSERVER: "observer"}
MAX_FRAME = (16 << 20) + 1024
MAX_NAME = 64

# A producer's stream (the pipe, and into the broker): variant tags 0..3.
Hello = collections.namedtuple("Hello", "name pid")
Baozi = collections.namedtuple("Baozi", "seq payload")
End = collections.namedtuple("End", "count")
Receipt = collections.namedtuple("Receipt", "received")
# The queue: a consumer's requests (Hello is tag 0 here too) and the broker's replies.
Take = collections.namedtuple("Take", "ack want")
Ack = collections.namedtuple("Ack", "ack")  # eaten up to `ack`, still alive; no reply
Leave = collections.namedtuple("Leave", "ack")  # eaten up to `ack`, give back the rest
Lease = collections.namedtuple("Lease", "millis")  # once, after Hello
Items = collections.namedtuple("Items", "deliveries")
Idle = collections.namedtuple("Idle", "")
Over = collections.namedtuple("Over", "eaten")  # the queue's End{eaten}
Stopping = collections.namedtuple("Stopping", "")
CutShort = collections.namedtuple("CutShort", "eaten cut")  # the end, some producers cut short
# The broker's first frame to every client: served, or refused with its reason.
Welcome = collections.namedtuple("Welcome", "capacity")
Refused = collections.namedtuple("Refused", "why")
Delivery = collections.namedtuple("Delivery", "tag producer pid seq attempt payload")
STATUS_FIELDS = ("queued capacity leased received acknowledged redelivered dead "
                 "producers producers_ended producers_expected consumers producers_cut")
Status = collections.namedtuple("Status", STATUS_FIELDS)
# What a consumer hands out: one item, from a broker or straight from a producer.
Item = collections.namedtuple("Item", "producer pid seq attempt payload")


class Error(Exception):
    """Something went wrong talking to a baozi-ipc program; str() is one line."""


# ---- postcard, the little of it the messages use ----

def varint(n):
    """An unsigned integer as LEB128: 7 bits a byte, low bits first, high bit = more."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def blob(b):
    """A string (UTF-8) or byte string: its length as a varint, then its bytes."""
    return varint(len(b)) + b


class Reader:
    """Reads postcard values from one frame's body."""

    def __init__(self, body):
        self.body, self.at = body, 0

    def varint(self, bits=64):
        n, shift = 0, 0
        while True:
            if self.at >= len(self.body):
                raise Error("corrupt frame: it ends inside a number")
            byte = self.body[self.at]
            self.at += 1
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if n >> bits:
                    raise Error("corrupt frame: a number too large")
                return n
            shift += 7
            if shift >= bits + 7:
                raise Error("corrupt frame: a number too long")

    def bytes(self):
        n = self.varint()
        if self.at + n > len(self.body):
            raise Error("corrupt frame: it ends inside a string")
        self.at += n
        return self.body[self.at - n:self.at]

    def str(self):
        return self.bytes().decode("utf-8")

    def done(self, value):
        if self.at != len(self.body):
            raise Error("corrupt frame: bytes left after the message")
        return value


def encode(msg):
    """The body of one message of either conversation."""
    kind = type(msg)
    if kind is Hello:
        return varint(0) + blob(msg.name.encode()) + varint(msg.pid)
    if kind is Baozi:
        return varint(1) + varint(msg.seq) + blob(bytes(msg.payload))
    if kind is End:
        return varint(2) + varint(msg.count)
    if kind is Receipt:
        return varint(3) + varint(msg.received)
    if kind is Take:
        return varint(1) + varint(msg.ack) + varint(msg.want)
    if kind is Ack:
        return varint(2) + varint(msg.ack)
    if kind is Leave:
        return varint(3) + varint(msg.ack)
    if kind is Lease:
        return varint(4) + varint(msg.millis)
    if kind is CutShort:
        return varint(4) + varint(msg.eaten) + varint(len(msg.cut)) + b"".join(
            blob(c.encode()) for c in msg.cut)
    if kind is Welcome:
        return varint(0) + varint(msg.capacity)
    if kind is Refused:
        return varint(1) + blob(msg.why.encode())
    if kind is Items:
        out = varint(0) + varint(len(msg.deliveries))
        for d in msg.deliveries:
            out += (varint(d.tag) + blob(d.producer.encode()) + varint(d.pid) + varint(d.seq)
                    + varint(d.attempt) + blob(bytes(d.payload)))
        return out
    if kind is Idle:
        return varint(1)
    if kind is Over:
        return varint(2) + varint(msg.eaten)
    if kind is Stopping:
        return varint(3)
    if kind is Status:
        return b"".join(varint(v) for v in msg)
    raise TypeError(f"not a baozi-ipc message: {msg!r}")


def decode_stream(body):
    """A frame of a producer's stream: Hello, Baozi, End or Receipt."""
    r = Reader(body)
    tag = r.varint(32)
    if tag == 0:
        return r.done(Hello(r.str(), r.varint(32)))
    if tag == 1:
        return r.done(Baozi(r.varint(), r.bytes()))
    if tag == 2:
        return r.done(End(r.varint()))
    if tag == 3:
        return r.done(Receipt(r.varint()))
    raise Error(f"corrupt frame: no stream message has tag {tag}")


def decode_request(body):
    """A consumer's request to the broker: Hello, Take, Ack, Leave or Lease."""
    r = Reader(body)
    tag = r.varint(32)
    if tag == 0:
        return r.done(Hello(r.str(), r.varint(32)))
    if tag == 1:
        return r.done(Take(r.varint(), r.varint(32)))
    if tag == 2:
        return r.done(Ack(r.varint()))
    if tag == 3:
        return r.done(Leave(r.varint()))
    if tag == 4:
        return r.done(Lease(r.varint()))
    raise Error(f"corrupt frame: no request has tag {tag}")


def decode_reply(body):
    """The broker's reply to a Take: Items, Idle, Over (its End), Stopping or CutShort."""
    r = Reader(body)
    tag = r.varint(32)
    if tag == 0:
        items = [Delivery(r.varint(), r.str(), r.varint(32), r.varint(), r.varint(32), r.bytes())
                 for _ in range(r.varint())]
        return r.done(Items(items))
    if tag == 1:
        return r.done(Idle())
    if tag == 2:
        return r.done(Over(r.varint()))
    if tag == 3:
        return r.done(Stopping())
    if tag == 4:
        return r.done(CutShort(r.varint(), [r.str() for _ in range(r.varint())]))
    raise Error(f"corrupt frame: no reply has tag {tag}")


def decode_admission(body):
    """The broker's first frame to a client: Welcome{capacity} or Refused{why}."""
    r = Reader(body)
    tag = r.varint(32)
    if tag == 0:
        return r.done(Welcome(r.varint()))
    if tag == 1:
        return r.done(Refused(r.str()))
    raise Error(f"corrupt frame: no admission has tag {tag}")


def admitted(conn):
    """Reads the broker's admission; a refusal is an Error in the broker's words."""
    body = conn.body()
    if body is None:
        raise Error("the broker closed the connection before saying whether it serves us")
    verdict = decode_admission(body)
    if type(verdict) is Refused:
        raise Error(f"the broker refused: {verdict.why}")
    return verdict


def decode_status(body):
    """The broker's numbers, as `broker --status` shows them."""
    r = Reader(body)
    return r.done(Status(*(r.varint() for _ in Status._fields)))


def frame(msg):
    """One frame: the body's length as 4 bytes little-endian, then the body."""
    body = encode(msg)
    return struct.pack("<I", len(body)) + body


def greeting(role):
    return MAGIC + bytes([VERSION, KIND, role])


# ---- connections ----

def _sockaddr(address):
    scheme, sep, rest = address.partition(":")
    scheme = scheme.lower()
    if not sep or not rest:
        raise Error(f"not an address: {address!r} (tcp:HOST:PORT, unix:PATH or local:NAME)")
    if scheme == "tcp":
        host, _, port = rest.removeprefix("//").rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return family, (host, int(port))
    if scheme == "unix":
        return socket.AF_UNIX, rest
    if scheme == "local":
        return socket.AF_UNIX, "\0" + rest  # Linux's abstract socket, as our local: is
    raise Error(f"unsupported address {address!r}: tcp:HOST:PORT, unix:PATH or local:NAME")


class Connection:
    """One conversation: greetings exchanged, then frames."""

    def __init__(self, sock, me, accept):
        self.sock = sock
        self.sock.sendall(greeting(me))
        g = self._exactly(11, "the greeting")
        if g[:8] != MAGIC:
            raise Error(f"not a baozi-ipc peer (it sent {g.hex(' ')})")
        if g[8] != VERSION:
            raise Error(f"the peer speaks baozi-ipc protocol version {g[8]}, this module {VERSION}")
        if g[9] != KIND or g[10] not in accept:
            want = " or ".join("a " + ROLES[r] for r in accept)
            raise Error(f"the peer is a {ROLES.get(g[10], 'stranger')}, but {want} was expected")
        self.peer = g[10]

    def _exactly(self, n, what):
        data = bytearray()
        while len(data) < n:
            got = self.sock.recv(n - len(data))
            if not got:
                raise Error(f"the connection closed during {what}")
            data += got
        return bytes(data)

    def send(self, *msgs):
        self.sock.sendall(b"".join(frame(m) for m in msgs))

    def body(self):
        """The next frame's body, or None at a clean end between frames."""
        first = self.sock.recv(4)
        if not first:
            return None
        head = first + self._exactly(4 - len(first), "a frame's length") if len(first) < 4 else first
        n = struct.unpack("<I", head)[0]
        if n > MAX_FRAME:
            raise Error(f"corrupt stream: a frame claims {n} bytes")
        return self._exactly(n, "a frame")

    def close(self):
        self.sock.close()


def connect(address, me, accept):
    family, where = _sockaddr(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.connect(where)
        return Connection(sock, me, accept)
    except OSError as e:
        sock.close()
        raise Error(f"cannot talk to {address}: {e}") from None


def _name(name, prefix):
    name = name or f"{prefix}{os.getpid()}"
    if not 1 <= len(name.encode()) <= MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Error(f"a name has 1 to {MAX_NAME} bytes and no control characters: {name!r}")
    return name


class Producer:
    """A producer's stream into a broker or a listening consumer: Hello, Baozi*, End, and the
    receipt. Leave the `with` block (or call end()) to end the stream."""

    def __init__(self, address, name=None):
        self.name = _name(name, "p")
        self.conn = connect(address, PRODUCER, (CONSUMER, BROKER))
        self.seq = 0
        self.received = None
        self.conn.send(Hello(self.name, os.getpid()))

    def put(self, payload=b""):
        """Sends the next baozi; returns its number."""
        self.conn.send(Baozi(self.seq, payload))
        self.seq += 1
        return self.seq - 1

    def end(self):
        """Sends the end and returns how many items the other side says it took."""
        if self.received is None:
            self.conn.send(End(self.seq))
            if self.conn.peer == BROKER:
                admitted(self.conn)  # a broker says first whether it took us in
            body = self.conn.body()
            reply = decode_stream(body) if body is not None else None
            self.conn.close()
            if type(reply) is not Receipt:
                raise Error(f"no receipt after the end: got {reply!r}")
            self.received = reply.received
        return self.received

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind is None:
            self.end()
        else:
            self.conn.close()  # no end frame: the other side sees the stream cut


class Consumer:
    """Items from a broker (each acknowledged when the next is asked for), or, with
    listen=True, from the one producer that connects (then a receipt at its end)."""

    def __init__(self, address, name=None, listen=False, prefetch=16):
        self.name = _name(name, "c")
        self.eaten = 0
        if listen:
            family, where = _sockaddr(address)
            with socket.socket(family, socket.SOCK_STREAM) as lsock:
                if family != socket.AF_UNIX:
                    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                lsock.bind(where)
                lsock.listen(1)
                self.address = address if not address.endswith(":0") else \
                    f"tcp:{lsock.getsockname()[0]}:{lsock.getsockname()[1]}"
                self.ready(self.address)
                sock, _ = lsock.accept()
            self.conn = Connection(sock, CONSUMER, (PRODUCER,))
        else:
            self.conn = connect(address, CONSUMER, (BROKER,))
        self.prefetch = prefetch

    def ready(self, address):
        """Called when listening, before the producer connects; prints `ready: ADDRESS` as
        our listeners do (on stderr)."""
        print(f"ready: {address}", file=sys.stderr, flush=True)

    def __iter__(self):
        try:
            if self.conn.peer == PRODUCER:
                yield from self._stream()
            else:
                yield from self._queue()
        finally:
            self.conn.close()

    def _stream(self):
        body = self.conn.body()
        hello = decode_stream(body) if body is not None else None
        if type(hello) is not Hello:
            raise Error(f"the producer did not start with its name: got {hello!r}")
        while True:
            body = self.conn.body()
            if body is None:
                raise Error(f"the producer's stream was cut after {self.eaten} items")
            msg = decode_stream(body)
            if type(msg) is Baozi:
                if msg.seq != self.eaten:
                    raise Error(f"baozi {msg.seq} came where {self.eaten} was expected")
                yield Item(hello.name, hello.pid, msg.seq, 1, msg.payload)
                self.eaten += 1
            elif type(msg) is End:
                if msg.count != self.eaten:
                    raise Error(f"the producer says it sent {msg.count}, {self.eaten} arrived")
                self.conn.send(Receipt(self.eaten))
                return
            else:
                raise Error(f"{type(msg).__name__} in the middle of a stream")

    def _queue(self):
        self.conn.send(Hello(self.name, os.getpid()), Take(0, self.prefetch))
        admitted(self.conn)
        last = 0
        while True:
            body = self.conn.body()
            if body is None:
                raise Error(f"the broker went away after {self.eaten} items were eaten here")
            reply = decode_reply(body)
            if type(reply) is Items:
                for d in reply.deliveries:
                    yield Item(d.producer, d.pid, d.seq, d.attempt, d.payload)
                    self.eaten += 1
                    last = d.tag
            elif type(reply) is Over:
                return
            elif type(reply) is CutShort:
                raise Error(f"the run was cut short: {', '.join(reply.cut)} stopped before their end")
            elif type(reply) is Stopping:
                raise Error(f"the broker was stopped before the end, after {self.eaten} items")
            self.conn.send(Take(last, self.prefetch))  # acknowledges every item up to `last`
