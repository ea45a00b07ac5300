#!/usr/bin/python3
"""faultproxy.py - an HTTP/1.1 proxy that injects S3 faults, for the tests.

    tests/faultproxy.py --upstream http://127.0.0.1:PORT --port-file F
                        [--control F] [--stats F] [--log F] [--port N]

It listens on 127.0.0.1 (a free port unless --port; the port is written to
--port-file once it listens) and forwards every request to the upstream S3
server byte for byte: the request line, the Host header and every other
header are left alone, so SigV4 signatures stay valid. Each connection from
the client gets its own upstream connection, kept alive as long as both
sides keep theirs. Bodies are read whole (Content-Length or chunked) before
anything is passed on; a client that sends "Expect: 100-continue" gets the
100 from the proxy, and the 100 the server then sends is dropped.

Faults come from the JSON control file, re-read whenever it changes (write
it elsewhere and rename it over the old one):

    {"phase": "backup-500", "seed": 7, "rules": [
        {"kinds": ["put_part"], "fault": "500", "prob": 0.3, "max": 20},
        {"kinds": ["complete"], "fault": "lost", "first": 1}
    ]}

A request's kind is one of: put_part, put_object, create_upload, complete,
abort_upload, delete, delete_multi, get_range, get_object, list,
list_uploads, head, create_bucket, other ("*" in kinds matches all); a
rule with "match" (a regular expression) only takes requests whose target
(path and query) it matches. The rules are tried in order; each one that
matches counts the request and decides with its own schedule whether to
fire; the first that fires applies. Schedules (per rule; the counters
start again whenever the file changes): "first": N fires on the first N
matching requests, "every": N on every Nth, otherwise "prob": P draws from
a random.Random seeded by the file's seed and the rule's index, in arrival
order. "max" caps the faults of a rule. The data a corrupting fault flips
is drawn from the same generator.

Faults:
    500, 503 (SlowDown XML body), 429     answered by the proxy, not
                                          forwarded ("when": "after"
                                          forwards first: the server acts
                                          and the client sees the error)
    error200         the same, but a 200 whose body is an InternalError, as
                     S3 may answer CompleteMultipartUpload
    reset_request    read "at" (fraction, default 0.5) of the request body,
                     then reset the connection (RST)
    reset_response   forward; send the head and "at" of the body, then RST
    lost             forward; reset before a single byte of the answer
    truncate         forward; send the head (true Content-Length) and "at"
                     of the body, then close cleanly
    corrupt_response forward; flip one bit of one body byte of a 2xx answer
                     (with "within": TEXT, a byte of TEXT's first
                     occurrence, if the body has it)
    corrupt_request  flip one bit of one request body byte, then forward
    stall            forward; send the head and "at" of the body, send
                     nothing for "seconds" (default 2), then the rest
                     (an answer without a body: hold the head back)
    hang             forward; send the head and "at" of the body (or
                     nothing, as stall), then nothing at all until the
                     client gives up ("seconds" bounds it, default 600)

A fault that cannot apply to a request (a reset mid-body of an answer that
has no body, a corrupt request without a body) is counted under
"not_applicable" instead of "faults", and the request goes through.

Counts of requests per kind and of faults per kind and fault, in total and
per phase, go to the --stats file (JSON, replaced atomically) each time a
request is counted - before its answer leaves the proxy, so once the client
has finished the file is complete - and again on SIGUSR1 and at exit
(SIGTERM, SIGINT). --log gets one line per request.

Python 3 standard library only.
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

KINDS = ("put_part", "put_object", "create_upload", "complete",
         "abort_upload", "delete", "delete_multi", "get_range", "get_object",
         "list", "list_uploads", "head", "create_bucket", "other")
FAULTS = ("500", "503", "429", "error200", "reset_request", "reset_response",
          "lost", "truncate", "corrupt_response", "corrupt_request", "stall",
          "hang")
MAX_HEAD = 64 << 10


class ProtocolError(Exception):
    pass


def classify(method, target, headers):
    """The S3 operation of a path-style request (/bucket/key?query), which
    is what clients send to an IP address endpoint."""
    path, _, query = target.partition("?")
    q = {k for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    segs = [s for s in path.split("/") if s]
    bucket_only = len(segs) <= 1
    if method == "PUT":
        if "partNumber" in q and "uploadId" in q:
            return "put_part"
        return "create_bucket" if bucket_only else "put_object"
    if method == "POST":
        if "uploads" in q:
            return "create_upload"
        if "uploadId" in q:
            return "complete"
        if "delete" in q:
            return "delete_multi"
        return "other"
    if method == "GET":
        if "uploads" in q:
            return "list_uploads"
        if bucket_only:
            return "list"
        return "get_range" if "range" in headers else "get_object"
    if method == "HEAD":
        return "head"
    if method == "DELETE":
        return "abort_upload" if "uploadId" in q else "delete"
    return "other"


class Rule:
    def __init__(self, idx, seed, d):
        self.kinds = set(d.get("kinds", ["*"]))
        if not self.kinds <= set(KINDS) | {"*"}:
            raise ValueError("unknown kind in %r" % sorted(self.kinds))
        self.match = re.compile(d["match"]) if "match" in d else None
        self.fault = str(d["fault"])
        if self.fault not in FAULTS:
            raise ValueError("unknown fault %r" % self.fault)
        self.prob = float(d.get("prob", 0))
        self.every = int(d.get("every", 0))
        self.first = int(d.get("first", 0))
        self.max = int(d.get("max", 1 << 62))
        self.when = d.get("when", "before")
        self.at = float(d.get("at", 0.5))
        self.within = str(d.get("within", ""))
        self.seconds = float(d.get("seconds", 2 if self.fault == "stall"
                                       else 600))
        self.rng = random.Random("%s/%d" % (seed, idx))
        self.seen = 0
        self.fired = 0

    def matches(self, kind, target):
        return ("*" in self.kinds or kind in self.kinds) and \
            (not self.match or self.match.search(target))

    def decide(self):
        self.seen += 1
        if self.fired >= self.max:
            return False
        if self.first:
            hit = self.seen <= self.first
        elif self.every:
            hit = self.seen % self.every == 0
        else:
            hit = self.rng.random() < self.prob
        if hit:
            self.fired += 1
        return hit


class State:
    """Control file, rules and counters; everything under one lock."""

    def __init__(self, control, stats, log):
        self.lock = threading.Lock()
        self.control = control
        self.stats_path = stats
        self.log = open(log, "a", buffering=1) if log else None
        self.sig = None
        self.phase = ""
        self.seed = 0
        self.rules = []
        self.total = self.blank()
        self.phases = {}
        self.nreq = 0
        self.errors = []

    @staticmethod
    def blank():
        return {"requests": {}, "faults": {}}

    def reload(self):
        if not self.control:
            return
        try:
            st = os.stat(self.control)
        except FileNotFoundError:
            sig = None
        else:
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig == self.sig:
            return
        self.sig = sig
        self.rules = []
        self.phase = ""
        if sig is None:
            return
        with open(self.control) as f:
            d = json.load(f)
        self.phase = str(d.get("phase", ""))
        self.seed = d.get("seed", 0)
        self.rules = [Rule(i, self.seed, r)
                      for i, r in enumerate(d.get("rules", []))]

    def pick(self, kind, target):
        """Count a request and return the rule that fires, or None."""
        with self.lock:
            try:
                self.reload()
            except (OSError, ValueError, KeyError, re.error) as e:
                self.errors.append("control: %s" % e)
                self.rules = []
            self.nreq += 1
            fired = None
            for r in self.rules:
                if r.matches(kind, target) and r.decide():
                    fired = r
                    break
            ph = self.phases.setdefault(self.phase, self.blank())
            for s in (self.total, ph):
                s["requests"][kind] = s["requests"].get(kind, 0) + 1
            self.dump_locked()
            return fired, self.nreq, self.phase

    def injected(self, phase, kind, fault):
        """Count a fault as it is applied, before the client can see it."""
        with self.lock:
            ph = self.phases.setdefault(phase, self.blank())
            for s in (self.total, ph):
                f = s["faults"].setdefault(kind, {})
                f[fault] = f.get(fault, 0) + 1
            self.dump_locked()

    def unapplied(self, phase, kind, fault):
        """A rule fired on a request it cannot change (no body to cut)."""
        with self.lock:
            ph = self.phases.setdefault(phase, self.blank())
            for s in (self.total, ph):
                f = s.setdefault("not_applicable", {}).setdefault(kind, {})
                f[fault] = f.get(fault, 0) + 1
            self.dump_locked()

    def note(self, line):
        if self.log:
            with self.lock:
                self.log.write(line + "\n")

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)
            if self.log:
                self.log.write("error " + msg + "\n")

    def dump_locked(self):
        if not self.stats_path:
            return
        d = {"total": self.total, "phases": self.phases,
             "requests": self.nreq, "errors": self.errors[-20:]}
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f, sort_keys=True)
        os.replace(tmp, self.stats_path)

    def dump(self):
        with self.lock:
            self.dump_locked()


def read_head(rf):
    """Read a message head (up to and including the empty line)."""
    buf = bytearray()
    while True:
        line = rf.readline(MAX_HEAD + 1)
        if not line:
            if buf:
                raise ProtocolError("connection closed inside a head")
            return None
        buf += line
        if len(buf) > MAX_HEAD:
            raise ProtocolError("head too long")
        if line in (b"\r\n", b"\n"):
            if len(buf) == len(line):
                buf.clear()  # stray empty line between messages
                continue
            return bytes(buf)


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    headers = {}
    for ln in lines[1:]:
        if not ln:
            continue
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return first, headers


def read_exact(rf, n):
    data = rf.read(n)
    if data is None or len(data) != n:
        raise ProtocolError("body cut short: %d of %d bytes"
                            % (len(data or b""), n))
    return data


def read_chunked(rf):
    """Read a chunked body; return its raw bytes (framing included)."""
    raw = bytearray()
    while True:
        line = rf.readline(1024)
        if not line:
            raise ProtocolError("connection closed inside chunked body")
        raw += line
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers
                t = rf.readline(MAX_HEAD)
                if not t:
                    raise ProtocolError("closed inside trailers")
                raw += t
                if t in (b"\r\n", b"\n"):
                    return bytes(raw)
        raw += read_exact(rf, size + 2)


def dechunk(raw):
    """The data of a raw chunked body (trailers dropped)."""
    out, i = bytearray(), 0
    while True:
        j = raw.index(b"\r\n", i)
        size = int(raw[i:j].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += raw[j + 2:j + 2 + size]
        i = j + 2 + size + 2


def body_length(headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    if "content-length" in headers:
        return int(headers["content-length"])
    return None


def rst(sock):
    """Close with a TCP RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def error_response(status, code, message, resource, rid, head_only):
    reason = {200: "OK", 500: "Internal Server Error", 503: "Slow Down",
              429: "Too Many Requests"}[status]
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s"
            "</Code><Message>%s</Message><Resource>%s</Resource>"
            "<RequestId>faultproxy-%d</RequestId></Error>"
            % (code, message, resource, rid)).encode()
    if head_only:
        body = b""
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
            "Content-Length: %d\r\nx-amz-request-id: faultproxy-%d\r\n"
            "Connection: keep-alive\r\n\r\n"
            % (status, reason, len(body), rid)).encode()
    return head + body


CANNED = {
    "500": (500, "InternalError",
            "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "429": (429, "TooManyRequests", "Please reduce your request rate."),
    "error200": (200, "InternalError",
                 "We encountered an internal error. Please try again."),
}


class Upstream:
    """One kept-alive connection to the server."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.sock = None
        self.rf = None
        self.used = False

    def close(self):
        if self.rf:
            self.rf.close()
        if self.sock:
            self.sock.close()
        self.sock = self.rf = None

    def connect(self):
        self.close()
        self.sock = socket.create_connection(self.addr, timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb", buffering=256 << 10)
        self.used = False

    def exchange(self, method, head, body):
        """Send a request, read the whole final answer.
        Return (status, head bytes, headers, body bytes, close)."""
        for attempt in (0, 1):
            if not self.sock:
                self.connect()
            reused = self.used
            try:
                self.sock.sendall(head)
                if body:
                    self.sock.sendall(body)
                while True:
                    rhead = read_head(self.rf)
                    if rhead is None:
                        raise ProtocolError("server closed the connection")
                    first, h = parse_head(rhead)
                    status = int(first[1])
                    if status >= 200:
                        break  # 100 Continue and friends are dropped
                break
            except (OSError, ProtocolError):
                self.close()
                # A kept-alive connection the server closed meanwhile: once
                # more on a fresh one. Anything else is the server's fault.
                if attempt == 0 and reused:
                    continue
                raise
        self.used = True
        close = "close" in h.get("connection", "").lower()
        n = body_length(h)
        if method == "HEAD" or status in (204, 304):
            rbody = b""
        elif n == "chunked":
            rbody = read_chunked(self.rf)
        elif n is None:
            rbody = self.rf.read()
            close = True
        else:
            rbody = read_exact(self.rf, n)
        if close:
            self.close()
        return status, rhead, h, rbody, close


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.request.makefile("rb", buffering=256 << 10)
        self.up = Upstream(*self.server.upstream)

    def finish(self):
        self.up.close()
        try:
            self.rf.close()
        except OSError:
            pass

    def abort(self, how):
        """End the client connection: "rst" or "fin"."""
        self.rf.close()
        if how == "rst":
            rst(self.request)
        else:
            try:
                self.request.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.request.close()
        self.up.close()

    def hold(self, seconds):
        """Send nothing until the client closes or seconds pass."""
        self.request.settimeout(0.5)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                if not self.request.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break

    def handle(self):
        st = self.server.state
        try:
            while self.one(st):
                pass
        except (OSError, ProtocolError, ValueError) as e:
            st.note("conn-error %s" % e)

    def one(self, st):
        """Serve one request. Return False when the connection is over."""
        head = read_head(self.rf)
        if head is None:
            return False
        first, h = parse_head(head)
        if len(first) != 3:
            raise ProtocolError("bad request line %r" % first)
        method, target = first[0], first[1]
        kind = classify(method, target, h)
        rule, rid, phase = st.pick(kind, target)
        fault = rule.fault if rule else None
        st.note("%d %s %s %s %s %s" % (rid, phase, kind, method, target,
                                       fault or "-"))

        def applied(yes=True):
            (st.injected if yes else st.unapplied)(phase, kind, fault)
            return yes

        n = body_length(h)
        if "100-continue" in h.get("expect", "").lower() and n:
            self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if fault in ("reset_request", "corrupt_request") and \
                not applied(isinstance(n, int) and n > 0):
            fault = None
        if fault == "reset_request":
            read_exact(self.rf, int(n * rule.at))
            self.abort("rst")
            return False
        if n == "chunked":
            body = read_chunked(self.rf)
        elif n:
            body = read_exact(self.rf, n)
        else:
            body = b""
        head_only = method == "HEAD"
        if fault in CANNED and rule.when != "after":
            applied()
            self.request.sendall(error_response(
                *CANNED[fault], target.split("?")[0], rid, head_only))
            return True
        if fault == "corrupt_request":
            b = bytearray(body)
            b[rule.rng.randrange(n)] ^= 1 << rule.rng.randrange(8)
            body = bytes(b)
        try:
            status, rhead, rh, rbody, close = self.up.exchange(
                method, head, body)
        except (OSError, ProtocolError) as e:
            st.error("upstream %s %s: %s" % (method, target, e))
            self.abort("rst")
            return False
        if fault in CANNED:  # "when": "after"
            applied()
            self.request.sendall(error_response(
                *CANNED[fault], target.split("?")[0], rid, head_only))
            return not close
        if fault == "lost":
            applied()
            self.abort("rst")
            return False
        # The rest change the body of the answer: no body, no fault. A
        # chunked body is cut in its raw form, framing and all.
        if fault in ("stall", "hang"):
            applied()
        elif fault in ("reset_response", "truncate") and \
                not applied(len(rbody) > 0):
            fault = None
        elif fault == "corrupt_response" and not applied(
                200 <= status < 300 and len(
                    dechunk(rbody) if body_length(rh) == "chunked"
                    else rbody) > 0):
            fault = None
        cut = int(len(rbody) * rule.at) if rule else 0
        if fault in ("reset_response", "truncate"):
            self.request.sendall(rhead + rbody[:cut])
            self.abort("rst" if fault == "reset_response" else "fin")
            return False
        if fault == "corrupt_response":
            chunked = body_length(rh) == "chunked"
            b = bytearray(dechunk(rbody) if chunked else rbody)
            at = b.find(rule.within.encode()) if rule.within else -1
            if at >= 0:
                b[at + rule.rng.randrange(len(rule.within))] ^= \
                    1 << rule.rng.randrange(8)
            elif b:
                b[rule.rng.randrange(len(b))] ^= 1 << rule.rng.randrange(8)
            # A chunked body goes on as one chunk: same data, new framing.
            rbody = b"%x\r\n%s\r\n0\r\n\r\n" % (len(b), b) if chunked \
                else bytes(b)
        if fault in ("stall", "hang"):
            # Without a body to cut, the head itself is held back.
            if rbody:
                self.request.sendall(rhead + rbody[:cut])
            else:
                rbody, cut = rhead + rbody, 0
            if fault == "hang":
                self.hold(rule.seconds)
                self.abort("rst")
                return False
            time.sleep(rule.seconds)
            self.request.sendall(rbody[cut:])
        else:
            self.request.sendall(rhead + rbody)
        return not close and \
            "close" not in h.get("connection", "").lower()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True,
                    help="http://HOST:PORT of the S3 server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--control")
    ap.add_argument("--stats")
    ap.add_argument("--log")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.upstream)
    if u.scheme != "http" or not u.hostname or not u.port:
        ap.error("--upstream must be http://HOST:PORT")
    state = State(a.control, a.stats, a.log)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.upstream = (u.hostname, u.port)
    srv.state = state

    def stop(signum, frame):
        state.dump()
        # shutdown() waits for serve_forever(), which runs in this thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda s, f: state.dump())
    state.dump()
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    print("faultproxy: 127.0.0.1:%d -> %s" % (port, a.upstream),
          file=sys.stderr, flush=True)
    srv.serve_forever(poll_interval=0.2)
    state.dump()
    srv.server_close()


if __name__ == "__main__":
    main()
