# SPDX-License-Identifier: Apache-2.0
# A pod's HTTP server for the proxy tests: answers "server saw PATH from CLIENT_IP".
# Not `python3 -m http.server`: that does a reverse DNS lookup before listening, which takes
# seconds in a namespace without a resolver (machine-probes.md).
import http.server
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("server saw %s from %s\n" % (self.path, self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
