"""A real HTTP webhook receiver process for tests: every POST is appended to a
JSON-lines file with its headers and body; a path ending in /fail answers 500.
Usage: python webhook_sink.py PORT OUTFILE"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        entry = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body.decode("utf-8")}
        with LOCK, open(self.server.out_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        self.send_response(500 if self.path.endswith("/fail") else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.out_path = sys.argv[2]
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
