#!/usr/bin/python3
"""t/fakes/smtp.py - an SMTP sink for development and tests.

    /usr/bin/python3 t/fakes/smtp.py --listen 127.0.0.1:2525 --dir DIR [--starttls]

A real SMTP server (Debian's python3-aiosmtpd; run it with /usr/bin/python3,
the python3 on PATH may be a pyenv shim that cannot see Debian's packages)
that delivers nothing: each message it accepts is stored as

    DIR/<seq>.eml   the message, byte for byte as received
    DIR/<seq>.json  {"mail_from", "rcpt_tos": [...], "subject", "message_id",
                     "text", "html" (decoded, lines ending in \\n),
                     "attachments": [{"filename",
                     "content_type", "size", "sha256"}], "received_at",
                     "tls": true when the message came over STARTTLS}

<seq> is a zero-padded number, unique in DIR even across restarts (a file is
never overwritten).  Each file is written to a temporary name and renamed, so
a reader never sees half a file; the .json appears after the .eml.

Failure modes, chosen by the recipient's local part:
    "+tempfail"  451 at RCPT TO (try again later)
    "+reject"    550 at RCPT TO (no such user)
    "+slow"      waits 3 s before answering the end of DATA; a client that
                 is gone by then has no message stored, as with a real server
                 that has not yet said 250.
And by the sender's (MAIL FROM) local part:
    "+rejectfrom" 550 at MAIL FROM (the server refuses the sender: its
                 trouble or the client's configuration, not the message's)
The whole server being down is simulated by stopping the process.

--starttls makes a self-signed certificate with the openssl command into
DIR/.tls/ (cert.pem is what a client must trust) and offers STARTTLS.

Prints "listening on HOST:PORT" once ready; SIGTERM or SIGINT stops it (a
message in DATA is finished first).
"""

import argparse
import asyncio
import datetime
import email
import email.policy
import hashlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile

from aiosmtpd.smtp import SMTP

SLOW_SECONDS = 3
SEQ_RE = re.compile(r"^(\d+)\.(eml|json)$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def local_part(address):
    return address.rsplit("@", 1)[0]


def write_atomic(path, data):
    """Writes data to path through a temporary file in the same directory."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o644)  # mail is for a developer to read
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def lf_endings(text):
    """The text with SMTP's CRLF line endings as \\n (the .eml keeps them)."""
    return text.replace("\r\n", "\n")


def summarise(raw, envelope):
    """The .json description of a message."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = html = None
    attachments = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition == "attachment" or (
                disposition is None and part.get_filename() is not None):
            payload = part.get_payload(decode=True) or b""
            attachments.append({
                "filename": part.get_filename(),
                "content_type": ctype,
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            })
        elif ctype == "text/plain" and text is None:
            text = lf_endings(part.get_content())
        elif ctype == "text/html" and html is None:
            html = lf_endings(part.get_content())
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "subject": str(msg["subject"]) if msg["subject"] is not None else None,
        "message_id": str(msg["message-id"]).strip()
        if msg["message-id"] is not None else None,
        "text": text,
        "html": html,
        "attachments": attachments,
        "received_at": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.next_seq = 1
        self.busy = 0  # messages between DATA and its answer
        for name in os.listdir(directory):
            m = SEQ_RE.match(name)
            if m:
                self.next_seq = max(self.next_seq, int(m.group(1)) + 1)

    def store(self, raw, envelope, tls):
        try:
            info = summarise(raw, envelope)
        except Exception as e:  # a message we cannot parse is still kept
            info = {"mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "parse_error": str(e)}
        info["tls"] = tls
        # Claim a number with a hard link, which never replaces a file:
        # another sink on the same directory cannot take the same one.
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            while True:
                seq = self.next_seq
                self.next_seq += 1
                eml = os.path.join(self.dir, "%06d.eml" % seq)
                try:
                    os.link(tmp, eml)
                    break
                except FileExistsError:
                    continue
        finally:
            os.unlink(tmp)
        path = os.path.join(self.dir, "%06d.json" % seq)
        write_atomic(path, (json.dumps(info, indent=1) + "\n").encode())
        log("stored %06d from=%s to=%s" % (seq, envelope.mail_from,
                                          ",".join(envelope.rcpt_tos)))
        return seq

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        if "+rejectfrom" in local_part(address):
            return "550 5.7.1 Sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        local = local_part(address)
        if "+tempfail" in local:
            return "451 4.3.0 Temporary failure, try again later"
        if "+reject" in local:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.busy += 1
        try:
            return await self.receive(server, session, envelope)
        finally:
            self.busy -= 1

    async def receive(self, server, session, envelope):
        if any("+slow" in local_part(a) for a in envelope.rcpt_tos):
            # Cancelled when the client goes away during the wait (aiosmtpd
            # cancels the handler on connection loss): nothing stored.
            try:
                await asyncio.sleep(SLOW_SECONDS)
            except asyncio.CancelledError:
                log("client gone before the end of DATA was answered: "
                    "message dropped")
                raise
            if server.transport is None or server.transport.is_closing():
                log("client gone before the end of DATA was answered: "
                    "message dropped")
                return "451 4.4.2 Connection lost"
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        seq = self.store(raw, envelope, session.ssl is not None)
        return "250 2.0.0 OK queued as %06d" % seq


def tls_context(directory):
    tls_dir = os.path.join(directory, ".tls")
    os.makedirs(tls_dir, exist_ok=True)
    cert = os.path.join(tls_dir, "cert.pem")
    key = os.path.join(tls_dir, "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "30",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def parse_listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir)
    ctx = tls_context(args.dir) if args.starttls else None
    loop = asyncio.get_running_loop()
    host, port = args.listen

    def factory():
        return SMTP(sink, hostname="sink.bellhop.invalid",
                    data_size_limit=64 * 1024 * 1024, tls_context=ctx,
                    ident="bellhop SMTP sink", timeout=60)

    server = await loop.create_server(factory, host=host, port=port,
                                      reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("listening on %s:%d" % (host, port), flush=True)
    await stop.wait()
    log("stopping")
    server.close()
    # Let a message being received finish (the +slow wait included).
    deadline = loop.time() + SLOW_SECONDS + 2
    while sink.busy and loop.time() < deadline:
        await asyncio.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description="bellhop's SMTP sink")
    parser.add_argument("--listen", type=parse_listen,
                        default=("127.0.0.1", 2525), help="HOST:PORT")
    parser.add_argument("--dir", required=True,
                        help="where messages are stored")
    parser.add_argument("--starttls", action="store_true",
                        help="offer STARTTLS with a self-signed certificate")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except OSError as e:
        log("smtp.py: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
