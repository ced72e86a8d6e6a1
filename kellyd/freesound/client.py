"""HTTP to Freesound: one rate limiter for every request, retries with backoff, timeouts.

Every request (search page or download) first takes a slot from the shared
rate limiter, whose request times are persisted in the ledger. Then:

- 429 waits what `Retry-After` asks (backoff when it does not say);
- 5xx, 408, timeouts, resets, dropped connections and bodies shorter than
  their `Content-Length` are retried with exponential backoff and jitter;
- a wait longer than `max_retry_after_s`, a used-up daily budget, credentials
  the server refuses, or a stop request end the whole pull (`PullAborted`);
- other failures end this one request (`RequestFailed`); the pull goes on.

The API key goes in an `Authorization: Token` header, only to URLs under
`base_url`; it is never put in a URL and never follows a redirect.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import threading
import urllib.error
import urllib.request
from typing import Any, BinaryIO, Callable, Literal, Mapping, TypeVar
from urllib.parse import urlencode, urlsplit

import structlog

from kellyd.freesound import ratelimit
from kellyd.freesound.api import LEGACY_SEARCH_PATH, SEARCH_PATH, MalformedAnswer, SearchPage, parse_search_page
from kellyd.freesound.backoff import backoff_delay_s, parse_retry_after_s
from kellyd.freesound.clock import Clock
from kellyd.freesound.ledger import Ledger
from kellyd.freesound.redact import Secret
from kellyd.freesound.settings import FreesoundSettings

MAX_JSON_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
USER_AGENT = "kellyd-freesound/1"

log = structlog.get_logger("kellyd.freesound")
T = TypeVar("T")
Auth = Literal["token", "bearer", "none"]


class PullAborted(Exception):
    """The whole pull must stop now; `reason` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RequestFailed(Exception):
    """One request failed for good; the pull goes on without it.

    `transient`: the network or the server failed (retries ran out), as
    opposed to an answer about this one resource (a 4xx, a bad URL).
    """

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class NotFound(RequestFailed):
    """The server answered 404."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, transient=False)


class RetryableBody(Exception):
    """The answer's body was cut short or empty: worth another try."""


class TooLarge(Exception):
    """The body is larger than the caller allows; `size_bytes` is what was announced or seen."""

    def __init__(self, size_bytes: int) -> None:
        super().__init__(f"{size_bytes} bytes is over the allowance")
        self.size_bytes = size_bytes


class LocalWriteError(Exception):
    """Writing on this machine failed (disk full, permissions): the pull must stop."""


def content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced body size in bytes, or None when absent or unreadable."""
    value = response.headers.get("Content-Length")
    try:
        size = int(value) if value is not None else None
    except ValueError:
        return None
    return size if size is not None and size >= 0 else None


def copy_body(response: http.client.HTTPResponse, sink: BinaryIO, *, max_bytes: int) -> int:
    """Stream the body into `sink`; returns the bytes written.

    Raises TooLarge past `max_bytes` (or when `Content-Length` says so at once),
    RetryableBody when the body is empty or shorter than its `Content-Length`.
    Network errors propagate (the caller retries them); the sink's own errors
    are wrapped in LocalWriteError so they are never mistaken for the network's.
    """
    expected = content_length(response)
    if expected is not None and expected > max_bytes:
        raise TooLarge(expected)
    written = 0
    # read1: whatever has arrived (up to a chunk), so the part file grows as the bytes come.
    while chunk := response.read1(CHUNK_BYTES):
        written += len(chunk)
        if written > max_bytes:
            raise TooLarge(written)
        try:
            sink.write(chunk)
        except OSError as exc:
            raise LocalWriteError(f"cannot write the download: {exc.strerror or exc}") from exc
    if expected is not None and written != expected:
        raise RetryableBody(f"answer cut short: {written} of {expected} bytes")
    if written == 0:
        raise RetryableBody("empty answer")
    return written


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (the default also follows ftp:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not _is_http(newurl):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-http(s) URL refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if isinstance(exc, ConnectionError):
        return f"connection failed ({type(exc).__name__})"
    if isinstance(exc, http.client.IncompleteRead):
        return "answer cut short"
    return f"{type(exc).__name__}: {exc}"


class FreesoundClient:
    """Requests for one pull. Not thread-safe: a pull is one sequence of requests."""

    def __init__(
        self,
        settings: FreesoundSettings,
        api_key: Secret,
        *,
        ledger: Ledger,
        clock: Clock,
        stop: threading.Event,
        rng: random.Random,
        oauth_token: Secret | None = None,
    ) -> None:
        self._settings = settings
        self._api_key = api_key
        self._oauth_token = oauth_token
        self._ledger = ledger
        self._clock = clock
        self._stop = stop
        self._rng = rng
        self._limits = ratelimit.RateLimits(settings.requests_per_minute, settings.requests_per_day)
        self._times = ledger.request_times(clock.time())
        self._opener = urllib.request.build_opener(_HttpOnlyRedirects)
        self._search_path = SEARCH_PATH
        self._search_confirmed = False
        self.requests_made = 0

    # rate limit and waiting --------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if self._clock.sleep(seconds, self._stop):
            raise PullAborted("stop requested")

    def _take_slot(self) -> None:
        while True:
            if self._stop.is_set():
                raise PullAborted("stop requested")
            now_s = self._clock.time()
            daily_s = ratelimit.daily_wait_s(self._times, now_s, self._limits)
            if daily_s > self._settings.max_retry_after_s:
                raise PullAborted(
                    f"daily request budget used ({self._limits.per_day} requests in 24 h); "
                    f"the next slot opens in {daily_s / 3600:.1f} h"
                )
            wait = max(daily_s, ratelimit.minute_wait_s(self._times, now_s, self._limits))
            if wait <= 0.0:
                return
            self._wait(wait)

    def _note_request(self) -> None:
        # Counted when it ends: the server saw it at some moment since it was sent, so
        # counting from the end keeps every 60 s window of arrivals within the limit.
        done_s = self._clock.time()
        self._times = ratelimit.record(self._times, done_s)
        self._ledger.record_request(done_s)
        self.requests_made += 1

    def _send(self, url: str, consume: Callable[[http.client.HTTPResponse], T], auth: Auth) -> T:
        """One attempt, counted against the rate limit however it ends."""
        request = self._request(url, auth)
        try:
            with self._opener.open(request, timeout=self._settings.timeout_s) as response:
                return consume(response)
        finally:
            self._note_request()

    # one exchange, retried ---------------------------------------------------

    def _request(self, url: str, auth: Auth) -> urllib.request.Request:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        # Unredirected: a redirect (to a CDN, say) never carries the credential along.
        if auth == "token":
            request.add_unredirected_header("Authorization", f"Token {self._api_key.reveal()}")
        elif auth == "bearer":
            if self._oauth_token is None:
                raise PullAborted(f"original downloads need an OAuth2 token in ${self._settings.oauth_token_env}")
            request.add_unredirected_header("Authorization", f"Bearer {self._oauth_token.reveal()}")
        return request

    def exchange(self, url: str, consume: Callable[[http.client.HTTPResponse], T], *, auth: Auth, what: str) -> T:
        """GET `url` and hand the response to `consume`, retrying what is worth retrying.

        `consume` may raise RetryableBody to ask for another try; anything else
        it raises ends the exchange.
        """
        if not _is_http(url):
            # The URL may come from an answer: never let it reach file:, ftp: or data: handlers.
            raise RequestFailed(f"{what}: not an http(s) URL", transient=False)
        attempts = self._settings.max_retries + 1
        for attempt in range(attempts):
            self._take_slot()
            retry_after_s: float | None = None
            try:
                return self._send(url, consume, auth)
            except urllib.error.HTTPError as exc:
                status = exc.code
                retry_after_s = parse_retry_after_s(exc.headers.get("Retry-After"), self._clock.time())
                exc.close()
                if status == 404:
                    raise NotFound(f"{what}: HTTP 404") from None
                if status in (401, 403) and auth != "none":
                    raise PullAborted(f"Freesound refused the credentials (HTTP {status}) for {what}") from None
                if status != 429 and status != 408 and status < 500:
                    raise RequestFailed(f"{what}: HTTP {status}", transient=False) from None
                problem = f"HTTP {status}"
            except RetryableBody as exc:
                problem = str(exc)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                problem = _describe(exc)
            if attempt + 1 == attempts:
                raise RequestFailed(f"{what}: {problem} (after {attempts} attempts)", transient=True)
            delay_s = retry_after_s if retry_after_s is not None else backoff_delay_s(
                attempt, base_s=self._settings.backoff_base_s, max_s=self._settings.backoff_max_s, rng=self._rng
            )
            if delay_s > self._settings.max_retry_after_s:
                raise PullAborted(f"{what}: the server asks to wait {delay_s:.0f} s (more than max_retry_after_s)")
            log.info("freesound.retry", what=what, problem=problem, attempt=attempt + 1, wait_s=round(delay_s, 3))
            self._wait(delay_s)
        raise AssertionError("unreachable: the loop returns or raises")

    # API calls ---------------------------------------------------------------

    def get_json(self, url: str, params: Mapping[str, str], *, what: str) -> Any:
        """GET an API resource and decode its JSON. Raises MalformedAnswer for a body that is not JSON."""

        def consume(response: http.client.HTTPResponse) -> Any:
            body = io.BytesIO()
            try:
                copy_body(response, body, max_bytes=MAX_JSON_BYTES)
            except TooLarge as exc:
                raise MalformedAnswer(f"{what}: an answer of {exc.size_bytes} bytes is too large for JSON") from None
            try:
                return json.loads(body.getvalue())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise MalformedAnswer(f"{what}: not JSON ({exc})") from None

        return self.exchange(f"{url}?{urlencode(params)}", consume, auth="token", what=what)

    def search(self, params: Mapping[str, str], *, what: str) -> SearchPage:
        """One search page. Falls back from /search/ to /search/text/ when the first answers 404."""
        url = self._settings.base_url + self._search_path
        try:
            payload = self.get_json(url, params, what=what)
        except NotFound:
            if self._search_confirmed:
                raise
            if self._search_path == SEARCH_PATH:
                log.info("freesound.search_fallback", endpoint=LEGACY_SEARCH_PATH, reason=f"{SEARCH_PATH} answered 404")
                self._search_path = LEGACY_SEARCH_PATH
                return self.search(params, what=what)
            raise PullAborted(f"no search endpoint at {self._settings.base_url} (both answered 404)") from None
        self._search_confirmed = True
        return parse_search_page(payload)

    def auth_for(self, url: str) -> Auth:
        """The API key goes only to the API itself, never to a preview host."""
        return "token" if url.startswith(self._settings.base_url + "/") else "none"

