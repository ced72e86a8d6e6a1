"""A small Freesound look-alike on 127.0.0.1 for the pull tests: real HTTP, scripted faults.

It serves `/apiv2/search/` (or only `/apiv2/search/text/`), preview files,
and the OAuth2 original download (a redirect to the file). It checks the
credentials the way Freesound does and records every request (time, path,
parameters, Authorization header) so tests can assert the rate limit, what was
fetched and what was sent where.

Faults are queued per target, e.g. `server.fault(("preview", 12), "truncated", "drop")`
makes the next two requests for sound 12's preview fail in those ways; then it
answers normally. Kinds: "429" (with Retry-After), "500", "404", "slow" (nothing for
`slow_s`, then hang up), "malformed" (200 with broken JSON), "truncated" (Content-Length
larger than the body), "drop" (close without an answer), "stall" (send half the
body, then hang until released or closed).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Hashable
from urllib.parse import parse_qs, urlencode, urlsplit

CC_BY = "http://creativecommons.org/licenses/by/4.0/"
CC_BY_NC = "http://creativecommons.org/licenses/by-nc/4.0/"
CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
FAULT_KINDS = frozenset({"429", "500", "404", "slow", "malformed", "truncated", "drop", "stall"})


@dataclass(frozen=True)
class Seen:
    """One request as the server received it. `at_s`: wall clock at arrival."""

    at_s: float
    path: str
    params: dict[str, str]
    authorization: str | None


class FakeFreesound:
    """Start with `with FakeFreesound(...) as server:`; `server.base_url` is the API root."""

    def __init__(self, *, api_key: str, preview_bytes: bytes, original_bytes: bytes = b"",
                 oauth_token: str = "", legacy_search_only: bool = False,
                 retry_after_s: float = 1.0, slow_s: float = 1.0) -> None:
        self.api_key = api_key
        self.oauth_token = oauth_token
        self.preview_bytes = preview_bytes
        self.preview_overrides: dict[int, bytes] = {}  # sound id -> other preview bytes
        self.original_bytes = original_bytes
        self.legacy_search_only = legacy_search_only
        self.retry_after_s = retry_after_s
        self.slow_s = slow_s
        self.queries: dict[str, list[dict[str, Any]]] = {}
        self.seen: list[Seen] = []
        self.complete_files: Counter[str] = Counter()  # file path -> full bodies sent
        self.server_errors: list[BaseException] = []
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._faults: dict[Hashable, deque[str]] = defaultdict(deque)
        self._arrival_delays: deque[float] = deque()  # real seconds, one per request in arrival order
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.handle_error = self._handle_error  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-freesound", daemon=True)

    # lifecycle ---------------------------------------------------------------

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/apiv2"

    def __enter__(self) -> "FakeFreesound":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def release_stall(self) -> None:
        self._release.set()

    def _handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            self.server_errors.append(error)

    # catalogue and faults ----------------------------------------------------

    def sound(self, sound_id: int, *, name: str = "", license: str = CC_BY, duration_s: float = 5.0,
              username: str = "alice", tags: tuple[str, ...] = ("music",), type: str = "wav") -> dict[str, Any]:
        """A search result as the API returns it, with a preview on this server."""
        return {
            "id": sound_id, "name": name or f"Sound {sound_id}.wav", "tags": list(tags), "duration": duration_s,
            "filesize": 10_000_000, "type": type, "license": license, "username": username,
            "previews": {"preview-hq-mp3": f"{self.origin}/previews/{sound_id}-hq.mp3",
                         "preview-lq-mp3": f"{self.origin}/previews/{sound_id}-lq.mp3"},
            "avg_rating": 4.0, "url": f"https://freesound.org/people/{username}/sounds/{sound_id}/",
        }

    def add_query(self, query: str, sounds: list[dict[str, Any]]) -> None:
        self.queries[query] = sounds

    def fault(self, target: Hashable, *kinds: str) -> None:
        """Queue faults for ("search", query, page), ("preview", id), ("download", id) or ("file", id)."""
        unknown = set(kinds) - FAULT_KINDS
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        with self._lock:
            self._faults[target].extend(kinds)

    def delay_arrivals(self, *delays_s: float) -> None:
        """Network latency before the server sees a request: the next requests are stamped this much later."""
        with self._lock:
            self._arrival_delays.extend(delays_s)

    def next_arrival_delay_s(self) -> float:
        with self._lock:
            return self._arrival_delays.popleft() if self._arrival_delays else 0.0

    def next_fault(self, target: Hashable) -> str | None:
        with self._lock:
            queue = self._faults.get(target)
            return queue.popleft() if queue else None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def paths(self, prefix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    def arrival_times(self) -> list[float]:
        with self._lock:
            return [s.at_s for s in self.seen]


def max_in_window(times_s: list[float], window_s: float) -> int:
    """The most of `times_s` that fall within any span shorter than `window_s`."""
    times = sorted(times_s)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def _handler_for(server: FakeFreesound) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # responses -----------------------------------------------------------

        def _send(self, status: int, body: bytes, *, content_type: str = "application/json",
                  headers: dict[str, str] | None = None, declared_length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode())

        def _apply_fault(self, target: Hashable, body: bytes) -> bool:
            """Play the next queued fault for `target`; True when it answered (or hung up) instead."""
            kind = server.next_fault(target)
            if kind is None:
                return False
            if kind == "slow":  # no answer before the client's timeout: it has given up by then
                server._release.wait(server.slow_s)
                self.close_connection = True
            elif kind == "429":
                self._send(429, b'{"detail": "throttled"}', headers={"Retry-After": f"{server.retry_after_s:g}"})
            elif kind == "500":
                self._send(500, b'{"detail": "server error"}')
            elif kind == "404":
                self._send(404, b'{"detail": "Not found."}')
            elif kind == "malformed":
                self._send(200, b'{"count": 3, "results": [{"id": 1, ')
            elif kind == "truncated":
                self._send(200, body[: len(body) // 2], declared_length=len(body))
                self.close_connection = True
            elif kind == "drop":
                self.close_connection = True
            elif kind == "stall":
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                server.stalled.set()
                server._release.wait(30)
                self.close_connection = True
            return True

        # routes --------------------------------------------------------------

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            time.sleep(server.next_arrival_delay_s())
            server.record(Seen(time.time(), parts.path, params, self.headers.get("Authorization")))
            if parts.path.startswith("/apiv2/search/"):
                self._search(parts.path, params)
            elif parts.path.startswith("/apiv2/sounds/") and parts.path.endswith("/download/"):
                self._download(int(parts.path.split("/")[3]))
            elif parts.path.startswith("/previews/"):
                sound_id = int(parts.path.rsplit("/", 1)[1].split("-")[0])
                body = server.preview_overrides.get(sound_id, server.preview_bytes)
                self._file(("preview", sound_id), parts.path, body, "audio/mpeg")
            elif parts.path.startswith("/files/"):
                sound_id = int(parts.path.rsplit("/", 1)[1].split(".")[0])
                self._file(("file", sound_id), parts.path, server.original_bytes, "audio/wav")
            else:
                self._json(404, {"detail": "Not found."})

        def _search(self, path: str, params: dict[str, str]) -> None:
            if path == "/apiv2/search/" and server.legacy_search_only:
                self._json(404, {"detail": "Not found."})
                return
            if path not in ("/apiv2/search/", "/apiv2/search/text/"):
                self._json(404, {"detail": "Not found."})
                return
            if self.headers.get("Authorization") != f"Token {server.api_key}":
                self._json(401, {"detail": "Invalid token."})
                return
            query, page, size = params.get("query", ""), int(params.get("page", "1")), int(params.get("page_size", "15"))
            results = server.queries.get(query, [])
            pages = max(1, math.ceil(len(results) / size))
            if page > pages:
                status, payload = 404, {"detail": "Invalid page."}
            else:
                next_url = None
                if page < pages:
                    next_url = f"{server.base_url}{path}?{urlencode({**params, 'page': page + 1})}"
                status, payload = 200, {"count": len(results), "next": next_url, "previous": None,
                                        "results": results[(page - 1) * size: page * size]}
            body = json.dumps(payload).encode()
            if not self._apply_fault(("search", query, page), body):
                self._send(status, body)

        def _download(self, sound_id: int) -> None:
            if self.headers.get("Authorization") != f"Bearer {server.oauth_token}" or not server.oauth_token:
                self._json(401, {"detail": "Authentication credentials were not provided."})
                return
            if self._apply_fault(("download", sound_id), b""):
                return
            self.send_response(302)
            self.send_header("Location", f"{server.origin}/files/{sound_id}.wav")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _file(self, target: Hashable, path: str, body: bytes, content_type: str) -> None:
            if self._apply_fault(target, body):
                return
            self._send(200, body, content_type=content_type)
            with server._lock:
                server.complete_files[path] += 1

    return Handler
