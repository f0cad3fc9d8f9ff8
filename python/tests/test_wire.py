"""baozi_ipc against the wire's test vectors (common/tests/vectors/*.bin, the bytes the Rust
code writes and reads): every message encodes to its file's bytes and decodes back.
Run by common/tests/vectors.rs under `cargo test`; alone: python3 python/tests/test_wire.py"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import baozi_ipc as b  # noqa: E402

VECTORS = os.path.join(HERE, "..", "..", "common", "tests", "vectors")


def vector(name):
    with open(os.path.join(VECTORS, name + ".bin"), "rb") as f:
        return f.read()


class Vectors(unittest.TestCase):
    def check(self, name, msg, decode):
        data = vector(name)
        self.assertEqual(b.frame(msg), data, name)
        self.assertEqual(int.from_bytes(data[:4], "little"), len(data) - 4, name)
        self.assertEqual(decode(data[4:]), msg, name)

    def test_greetings(self):
        for name, role in [("producer", b.PRODUCER), ("consumer", b.CONSUMER),
                           ("broker", b.BROKER), ("observer", b.OBSERVER)]:
            self.assertEqual(b.greeting(role), vector("greeting-" + name))

    def test_a_producers_stream(self):
        self.check("stream-hello", b.Hello("p1", 4242), b.decode_stream)
        self.check("stream-baozi-0", b.Baozi(0, b""), b.decode_stream)
        self.check("stream-baozi-300", b.Baozi(300, b"pork"), b.decode_stream)
        self.check("stream-end", b.End(10), b.decode_stream)
        self.check("stream-receipt", b.Receipt(10), b.decode_stream)

    def test_the_queue(self):
        self.check("queue-hello", b.Hello("c1", 4243), b.decode_request)
        self.check("queue-take-first", b.Take(0, 128), b.decode_request)
        self.check("queue-take", b.Take(2, 1), b.decode_request)
        self.check("queue-ack", b.Ack(5), b.decode_request)
        self.check("queue-leave", b.Leave(5), b.decode_request)
        self.check("queue-lease", b.Lease(30000), b.decode_request)
        self.check("queue-welcome", b.Welcome(10000), b.decode_admission)
        self.check("queue-refused", b.Refused("busy"), b.decode_admission)
        self.check("queue-cut-short", b.CutShort(20, ["p2"]), b.decode_reply)
        items = b.Items([b.Delivery(1, "p1", 4242, 0, 1, b""), b.Delivery(2, "p1", 4242, 7, 2, b"")])
        self.check("queue-items", items, b.decode_reply)
        self.check("queue-idle", b.Idle(), b.decode_reply)
        self.check("queue-end", b.Over(20), b.decode_reply)
        self.check("queue-stopping", b.Stopping(), b.decode_reply)
        status = b.Status(3, 10000, 2, 12, 7, 0, 0, 2, 0, 2, 2, 1)
        self.check("queue-status", status, b.decode_status)

    def test_varints_at_their_edges(self):
        for n, want in [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
                        (2**32 - 1, b"\xff\xff\xff\xff\x0f")]:
            self.assertEqual(b.varint(n), want)
            self.assertEqual(b.Reader(want).varint(), n)

    def test_bad_frames_are_errors_not_crashes(self):
        for body in [b"", b"\x09", b"\x01\x80", b"\x00\x05ab", b"\x02\x0a\x00"]:
            with self.assertRaises(b.Error):
                b.decode_stream(body)


if __name__ == "__main__":
    unittest.main()
