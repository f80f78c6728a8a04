#!/usr/bin/env python3
"""An extension in Python, written from docs/protocol.md alone (no libward).

It serves "greet" (params {"name": ...}): while handling it, it calls its
host twice, as an extension may (docs/extensions.md, "Calling the host"):
"host.showMessage", which its manifest asks for with the permission
"ui.message", and "host.readSetting", which needs "settings.read": that one
is refused with code -16 (EPERM). It answers PINGs, refuses unknown methods
with -11, and exits on the host's GOODBYE or EOF (protocol.md 8.3, 2.4).
"""
import json, os, signal, socket, struct, sys

HDR = struct.Struct("<BBBBIII")  # magic kind flags nlen len id aux (3.1)
(HELLO, WELCOME, REQUEST, REPLY, ERROR, NOTIFY, PROGRESS, ROW, DIAG, CANCEL,
 PING, PONG, GOODBYE, CREDIT) = range(1, 15)
JSON = 1  # the payload encoding (4)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def send(sock, kind, id=0, aux=0, name=b"", payload=b"", enc=JSON):
    sock.sendall(HDR.pack(0x57, kind, enc, len(name), len(payload), id, aux & 0xFFFFFFFF)
                 + name + payload)


def recv(sock):
    magic, kind, flags, nlen, size, id, aux = HDR.unpack(recv_exact(sock, HDR.size))
    if magic != 0x57:
        sys.exit("greeter: protocol violation from the host")
    body = recv_exact(sock, nlen + size)
    return kind, id, aux, body[:nlen].decode(), body[nlen:]


class Extension:
    def __init__(self, sock):
        self.sock = sock
        self.next_id = 1

    def call_host(self, method, params):
        """A REQUEST to the host (7.2); PINGs are answered while waiting.
        Returns (code, payload): code 0 for a REPLY, the ERROR's code."""
        id, self.next_id = self.next_id, self.next_id + 1
        send(self.sock, REQUEST, id, name=method.encode(), payload=json.dumps(params).encode())
        while True:
            kind, fid, aux, name, payload = recv(self.sock)
            if kind == PING:
                send(self.sock, PONG, fid)
            elif kind == GOODBYE:
                sys.exit(0 if aux == 0 else 1)
            elif kind in (REPLY, ERROR) and fid == id:
                if kind == REPLY:
                    return 0, payload
                code = struct.unpack("<i", struct.pack("<I", aux))[0]
                m = struct.unpack("<I", payload[:4])[0]
                return code, payload[4:4 + m]
            # CREDIT, CANCEL and NOTIFY: nothing this extension needs

    def greet(self, id, params):
        name = json.loads(params)["name"]
        code, _ = self.call_host("host.showMessage", {"text": "greeting " + name})
        shown = code == 0
        code, why = self.call_host("host.readSetting", "greeting")
        setting = "refused (%d): %s" % (code, why.decode()) if code else "read"
        reply = {"greeting": "Hello, %s!" % name, "shown": shown, "setting": setting}
        send(self.sock, REPLY, id, payload=json.dumps(reply).encode())

    def serve(self):
        while True:
            kind, id, aux, name, payload = recv(self.sock)
            if kind == REQUEST and name == "greet":
                self.greet(id, payload)
            elif kind == REQUEST:
                msg = b"no such method"
                send(self.sock, ERROR, id, -11, payload=struct.pack("<I", len(msg)) + msg)
            elif kind == PING:
                send(self.sock, PONG, id)
            elif kind == GOODBYE:
                return aux


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    fd = int(os.environ["WARD_FD"])  # inherit mode (2.1)
    sock = socket.socket(fileno=fd)
    # The handshake (6): what it serves, which the host compares with the
    # manifest's commands.
    hello = b"pid=%d\nmethod=greet\nmeta.lang=python\n" % os.getpid()
    send(sock, HELLO, aux=1, name=os.environ.get("WARD_NAME", "greeter").encode(),
         payload=hello, enc=0)
    kind, _, _, _, payload = recv(sock)
    if kind != WELCOME:
        sys.exit("greeter: refused: " + payload.decode(errors="replace"))
    try:
        reason = Extension(sock).serve()
    except EOFError:
        reason = 1
    sys.exit(0 if reason == 0 else 1)


if __name__ == "__main__":
    main()
