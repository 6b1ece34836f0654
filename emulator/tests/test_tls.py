"""The emulator's --tls option: HTTPS with a given certificate and key.

Makes a throwaway CA and a server certificate for 127.0.0.1 with the
openssl command line (scripts/install-deps.sh installs it; its absence
is a failure, not a skip), starts fauna_emulator.py with
--tls, and checks that a client trusting the CA is served, that one that
does not trust it fails verification, and that a client that gives up in
the handshake or speaks plain HTTP does not stop the server.

Run:  python3 -m unittest emulator.tests.test_tls
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(os.path.dirname(HERE), "fauna_emulator.py")
SECRET = "tls-tests-secret"

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = emulator test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[v3_srv]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise RuntimeError("the openssl command is not installed "
                               "(scripts/install-deps.sh installs it)")
        cls.dir = tempfile.mkdtemp(prefix="emu_tls_")
        d = cls.dir
        cnf = os.path.join(d, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(OPENSSL_CNF)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", "-config", cnf, "-extensions", "v3_ca", *ec,
                "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-days", "2")
        openssl("req", "-new", "-config", cnf, *ec, "-subj", "/CN=localhost",
                "-keyout", f"{d}/srv.key", "-out", f"{d}/srv.csr")
        openssl("x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.crt",
                "-CAkey", f"{d}/ca.key", "-set_serial", "1", "-days", "2",
                "-extfile", cnf, "-extensions", "v3_srv", "-out", f"{d}/srv.crt")
        cls.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--port", "0", "--secret", SECRET,
             "--tls", f"{d}/srv.crt", f"{d}/srv.key"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = cls.proc.stdout.readline()
        m = re.search(r"listening on (https://\S+)", line)
        if not m:
            cls.proc.kill()
            raise RuntimeError("the emulator did not start: " + line + cls.proc.stdout.read())
        cls.endpoint = m.group(1)
        cls.port = int(cls.endpoint.rsplit(":", 1)[1])
        cls.ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            cls.proc.wait(10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
        cls.proc.stdout.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def query(self, fql, context=None, host="127.0.0.1"):
        req = urllib.request.Request(
            f"https://{host}:{self.port}/query/1",
            data=json.dumps({"query": fql}).encode(), method="POST",
            headers={"Authorization": "Bearer " + SECRET})
        with urllib.request.urlopen(req, timeout=10, context=context or self.ctx) as r:
            return json.loads(r.read())

    def test_served_over_tls(self):
        self.assertEqual(self.query("1 + 1")["data"], 2)
        self.assertEqual(self.query("2 + 2", host="localhost")["data"], 4)

    def test_untrusted_client_fails_verification(self):
        ctx = ssl.create_default_context()      # the system CAs only
        with self.assertRaises(urllib.error.URLError) as cm:
            self.query("1", context=ctx)
        self.assertIsInstance(cm.exception.reason, ssl.SSLCertVerificationError)
        self.assertEqual(self.query("3")["data"], 3)

    def test_aborted_handshake_and_plain_http(self):
        # a client that connects and leaves, and one that speaks plain HTTP
        with socket.create_connection(("127.0.0.1", self.port)):
            pass
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                s.recv(100)
            except OSError:
                pass
        self.assertEqual(self.query("4")["data"], 4)
        self.assertIsNone(self.proc.poll())

    def test_bad_certificate_file(self):
        r = subprocess.run([sys.executable, EMULATOR, "--port", "0", "--secret", SECRET,
                            "--tls", os.path.join(self.dir, "missing.crt"),
                            os.path.join(self.dir, "srv.key")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot load the TLS certificate or key", r.stderr)


if __name__ == "__main__":
    unittest.main()
