"""A minimal OpenAI-compatible upstream on Python's standard library HTTP/1.1 server: a server that is
not ours, for pool tests. Chat completions whole (Content-Length) and streamed (chunked SSE, the
terminating chunk written separately and a moment later). Counts the connections that carried a completion; with
MAX_REQUESTS set, answers `Connection: close` on a connection's Nth request (nginx keepalive_requests).
Prints its port on the first line of stdout. GET /stats answers {"connections": n, "requests": n}.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 0
counts = {"connections": 0, "requests": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.served = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.reply(200, json.dumps(counts).encode(), "application/json")

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        request = json.loads(self.rfile.read(length) or b"{}")
        self.served += 1
        with lock:
            counts["requests"] += 1
            # Connections that carried a completion: the /stats reader's own does not count.
            if self.served == 1:
                counts["connections"] += 1
        closing = MAX_REQUESTS and self.served >= MAX_REQUESTS
        model = request.get("model", "stdlib-1")
        if not request.get("stream"):
            completion = {
                "id": "chatcmpl-stdlib", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
            return self.reply(200, json.dumps(completion).encode(), "application/json", closing)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        if closing:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = lambda delta, finish=None: {"id": "chatcmpl-stdlib", "object": "chat.completion.chunk", "created": 0, "model": model,
                                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        events = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}), chunk({"content": " there."}), chunk({}, "stop"),
                  {"id": "chatcmpl-stdlib", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}]
        for event in events:
            self.write_chunk(f"data: {json.dumps(event)}\n\n".encode())
        self.write_chunk(b"data: [DONE]\n\n")
        # The terminating chunk in a packet of its own, a moment later, as it arrives over a real network.
        time.sleep(0.01)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def write_chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def reply(self, status, body, content_type, closing=False):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        if closing:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
