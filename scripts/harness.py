"""What scripts/bench, scripts/crash-test and scripts/load-test share: the release binary, a
server on a free port, and a signed-in browser-like HTTP session (cookies, CSRF token, Origin).
Python's standard library only."""

import http.cookiejar
import os
import random
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "callerdesk")
PASSWORD = "bench pass phrase 1"


def build():
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url, timeout=2):
    """The HTTP status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def add_user(db, name, role):
    subprocess.run([BIN, "user", "add", name, "--role", role, "--password-stdin", "--database", db],
                   input=PASSWORD + "\n", text=True, check=True, stdout=subprocess.DEVNULL)


def example_number():
    """A US number from the ranges kept for fiction (555-0100 to 555-0199)."""
    area = random.choice(["202", "212", "312", "415", "617"])
    return f"+1{area}5550{random.randint(100, 199)}"


def sandbox_code(page):
    """The code the sandbox banner of a verification page shows, or None."""
    found = re.search(r'class="sandbox-code".*?<code>(\d+)</code>', page, re.S)
    return found.group(1) if found else None


def verify_form(number, alias):
    """The fields of the "Verify a number" form, sending the code by text message."""
    return {"number": number, "alias": alias, "channel": "sms", "subaccount": ""}


class Server:
    """`callerdesk serve` on a database in sandbox mode, without the sync schedule."""

    def __init__(self, db, env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full = dict(os.environ, CALLERDESK_DATABASE=db, CALLERDESK_LISTEN=f"127.0.0.1:{self.port}",
                    CALLERDESK_SYNC_INTERVAL="0", RUST_LOG="warn")
        for name in ("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"):
            full.pop(name, None)
        full.update(env or {})
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([BIN, "serve"], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.ready_after = None
        while time.perf_counter() - self.started < 60:
            if status_of(self.base + "/healthz", timeout=0.5) == 200:
                self.ready_after = time.perf_counter() - self.started
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"callerdesk stopped at start-up: {self.proc.stderr.read().decode()}")
            time.sleep(0.002)
        raise SystemExit("callerdesk did not start within 60 s")

    def memory_parts_mb(self):
        """RssAnon (the heap and stacks) and RssFile (the binary and mapped files), in MB."""
        parts = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("RssAnon", "RssFile", "RssShmem"):
                    parts[name] = int(value.split()[0]) / 1024
        return parts

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def kill(self):
        """kill -9: no shutdown of any kind."""
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    """One person's browser: cookies, the CSRF token of the last page, the Origin header."""

    def __init__(self, base, timeout=30):
        self.base = base
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.csrf = None

    def request(self, method, path, fields=None):
        """(status, body, location); follows no redirects."""
        data = urllib.parse.urlencode(fields or {}).encode() if method == "POST" else None
        headers = {"Origin": self.base} if method == "POST" else {}
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with self.opener.open(req, timeout=self.timeout) as r:
                status, body, location = r.status, r.read().decode(), r.headers.get("Location")
        except urllib.error.HTTPError as e:
            status, body, location = e.code, e.read().decode(errors="replace"), e.headers.get("Location")
        token = re.search(r'name="csrf_token" value="([0-9a-f.]+)"', body)
        if token:
            self.csrf = token.group(1)
        return status, body, location

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        if self.csrf is None:
            self.get("/")
        return self.request("POST", path, dict(fields, csrf_token=self.csrf or ""))

    def sign_in(self, username, password=PASSWORD):
        self.get("/login")
        status, _, location = self.post("/login", {"username": username, "password": password})
        if status != 303 or (location or "").startswith("/login"):
            raise RuntimeError(f"could not sign in as {username}: {status} {location}")
        self.get("/")

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)
