"""A real SMTP server process for tests: every message received is appended to a
JSON-lines file. Usage: python smtp_sink.py PORT OUTFILE"""
import json
import signal
import sys
import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        entry = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "to": message["To"],
                 "from": message["From"], "subject": message["Subject"],
                 "list_unsubscribe": message["List-Unsubscribe"],
                 "body": message.get_body(("plain",)).get_content()}
        with self.lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        return "250 Message accepted for delivery"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Keep(path), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
