"""Resumable, verified HTTP downloads that say when a server keeps them waiting.

Shared by the styles hub (:mod:`dctnet.hub`) and the trainer's photo downloads.

* Standard-library HTTP (urllib) only: a few GET requests do not justify a dependency.
* Bytes land in a download cache (``LIVETOON_CACHE_DIR`` or the user cache dir) as
  ``<sha256>.part`` and are appended to, so a cut connection or an interrupted run
  resumes with an HTTP ``Range`` request instead of starting again. Naming by hash
  also means a listing cannot steer a write outside the cache.
* Network failures are retried with exponential backoff.
* A server that accepts and then says nothing is the worst case for a user: each try
  waits its socket timeout. So the downloader says it is waiting after a few seconds,
  and gives up once the server has sent nothing for an overall deadline, all tries
  together (``LIVETOON_HUB_TIMEOUT``), instead of multiplying timeouts by tries.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import LiveToonError

CACHE_ENV = "LIVETOON_CACHE_DIR"
TIMEOUT_ENV = "LIVETOON_HUB_TIMEOUT"
DEFAULT_DEADLINE_S = 45.0
"""How long a server may send nothing, all tries together, before the download gives up."""
READ_TIMEOUT_S = 15.0
"""One try's socket timeout, so a silent server gets about three tries within the deadline."""
NOTICE_AFTER_S = 4.0
"""After this long without an answer the user is told what is being waited for (sooner
when the deadline is short, so the wait is always explained before it ends)."""
CHUNK_BYTES = 1 << 16
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

NoticeCallback = Callable[[str], None]
"""Called with one line a user should see (a wait, a file checked by size only); may
be called from a timer thread."""
T = TypeVar("T")


class DownloadCancelled(LiveToonError):
    """The caller asked to stop; partial downloads stay in the cache for a later resume."""


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host, a valid port if any, and nothing urllib would choke on."""
    try:
        parts = urllib.parse.urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises ValueError when malformed
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok and url.isprintable() and " " not in url


def resolve_deadline(deadline: float | str | None = None) -> float:
    """``deadline`` seconds, else ``$LIVETOON_HUB_TIMEOUT``, else the default; refused unless > 0."""
    chosen = deadline if deadline is not None else os.environ.get(TIMEOUT_ENV) or DEFAULT_DEADLINE_S
    try:
        seconds = float(chosen)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise LiveToonError(f"invalid hub timeout {chosen!r}: expected a number of seconds above 0")
    return seconds


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override) / "hub"
    import platformdirs  # here only, as in styles.user_data_dir: the GPU image lacks it

    return Path(platformdirs.user_cache_dir("livetoon", appauthor=False)) / "hub"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model repo as the listing describes it (``sha256``/``commit`` may be empty)."""

    path: str
    size: int
    sha256: str
    commit: str = ""

    @property
    def basename(self) -> str:
        return self.path.rpartition("/")[2]


class TransientError(Exception):
    """a failure worth retrying (network error, 5xx, short body)."""


class NotServed(Exception):
    """the server will not give us this (404, 401/403, a listing whose Code is not 200)."""


class ResumeRefused(TransientError):
    """HTTP 416, the server will not continue our partial file (so start it over)."""


class WrongSize(Exception):
    """the server sends a file of another size than listed; retrying cannot help."""


class RetriesExhausted(Exception):
    """retries ran out; the caller knows what to tell the user."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Downloader:
    """Timeouts, retries and resumable, checked downloads into the cache.

    ``cancel`` is polled between chunks and during backoff, so a front end can stop
    a download from another thread within one chunk or one socket timeout.
    ``deadline`` bounds how long the server may stay silent, all tries of one request
    together; the clock restarts whenever bytes arrive, so a slow but live download is
    never cut. One downloader serves one download at a time.
    """

    def __init__(
        self,
        cache: Path | None = None,
        timeout: float = READ_TIMEOUT_S,
        attempts: int = 4,
        backoff: float = 1.0,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        notify: NoticeCallback | None = None,
        notice_after: float | None = None,
    ) -> None:
        self.cache = cache if cache is not None else cache_dir()
        self.timeout, self.attempts, self.backoff = timeout, max(1, attempts), backoff
        self.cancel = cancel or threading.Event()
        self.deadline = resolve_deadline(deadline)
        self.notify = notify or (lambda message: None)
        self.notice_after = notice_after if notice_after is not None else min(NOTICE_AFTER_S, self.deadline / 3)
        self._heard_at = time.monotonic()
        self._told_waiting = False
        self._host = ""

    def _time_left(self) -> float:
        return self.deadline - (time.monotonic() - self._heard_at)

    def _heard(self) -> None:
        """The server sent something: its silence deadline starts over."""
        self._heard_at = time.monotonic()

    def _tell_waiting(self) -> None:
        if not self._told_waiting:
            self._told_waiting = True
            self.notify(f"waiting for {self._host}: no answer after {self.notice_after:.1f} s "
                        f"(giving up after {self.deadline:g} s of silence, {TIMEOUT_ENV} to change)")

    def _open(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        self._host = urllib.parse.urlsplit(url).netloc
        request = urllib.request.Request(url, headers={"User-Agent": "livetoon", **headers})
        waiting = threading.Timer(self.notice_after, self._tell_waiting)
        waiting.daemon = True
        waiting.start()
        try:
            response = urllib.request.urlopen(request, timeout=max(0.01, min(self.timeout, self._time_left())))
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (401, 403, 404):
                raise NotServed(f"HTTP {exc.code} {exc.reason}") from exc
            if exc.code == 416:
                raise ResumeRefused(f"HTTP {exc.code} {exc.reason}") from exc
            if exc.code in RETRY_STATUSES:
                raise TransientError(f"HTTP {exc.code} {exc.reason}") from exc
            raise LiveToonError(f"{url}: the hub answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise TransientError(describe_network_error(exc)) from exc
        finally:
            waiting.cancel()
        self._heard()
        return response

    def _retrying(self, action: Callable[[], T]) -> T:
        """``action`` until it stops failing transiently, waiting backoff x 1, 2, 4...,
        within the silence deadline."""
        self._heard()
        self._told_waiting = False
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                self.cancel.wait(max(0.0, min(self.backoff * 2 ** (attempt - 1), self._time_left())))
            self._check_cancel()
            if self._time_left() <= 0:
                raise RetriesExhausted(f"no answer for {self.deadline:g} s, last try: {reason}")
            try:
                return action()
            except TransientError as exc:
                reason = str(exc)
        raise RetriesExhausted(reason)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled("download cancelled")

    def fetch_url(self, url: str, remote: RemoteFile, report: Callable[[int], None], label: str) -> Path:
        """A checked local copy of ``remote`` from ``url`` in the cache, resuming any partial download.

        A file the listing gives a SHA-256 for must match it. One without (the SDK
        tolerates that too) can only be held to its listed size.
        """
        listed = bool(remote.sha256)
        final = self.cache / (remote.sha256 if listed else unlisted_cache_name(url, remote))
        if listed and final.is_file() and file_sha256(final) == remote.sha256:
            report(remote.size)
            return final
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LiveToonError(f"cannot create the download cache {self.cache}: {exc.strerror}") from exc
        part = final.with_name(f"{final.name}.part")
        try:
            self._retrying(lambda: self._download_once(url, part, remote, report))
        except NotServed as exc:
            raise LiveToonError(f"{label}: the server does not serve this file ({exc})") from exc
        except WrongSize as exc:
            part.unlink(missing_ok=True)  # not the listed file, so not worth resuming
            raise LiveToonError(f"{label}: {exc}, so nothing was installed") from exc
        except OSError as exc:  # network errors were turned into retries: this is the local disk
            raise LiveToonError(f"cannot write the download cache {self.cache}: {exc.strerror or exc}") from exc
        actual = file_sha256(part)
        if listed and actual != remote.sha256:
            part.unlink(missing_ok=True)
            raise LiveToonError(
                f"{label}: SHA-256 mismatch (listed {remote.sha256}, got {actual}); "
                "the download is corrupt or the server sent another file, so nothing was installed"
            )
        os.replace(part, final)
        return final

    def _download_once(self, url: str, part: Path, remote: RemoteFile, report: Callable[[int], None]) -> None:
        """One request: append to ``part`` from where it ends; short bodies are transient."""
        have = part.stat().st_size if part.is_file() else 0
        if have > remote.size:
            part.unlink()
            have = 0
        if part.is_file() and have == remote.size:
            return  # complete from an earlier run; verification decides if it is right
        try:
            response = self._open(url, {"Range": f"bytes={have}-"} if have else {})
        except ResumeRefused as exc:
            part.unlink()  # a partial this server will not continue would block every later run
            raise TransientError("the server refused to resume a partial download") from exc
        with response:
            if have and not resumes_at(response, have):
                have = 0  # the server sent the whole file (or another range): start over
            announced = announced_size(response)
            if announced is not None and announced != remote.size:
                raise WrongSize(f"the server sends {announced} bytes where the listing says {remote.size}")
            report(have)
            with part.open("ab" if have else "wb") as fh:
                have = self._copy_body(response, fh, have, remote, report)
        if have < remote.size:
            raise TransientError(f"connection closed after {have} of {remote.size} bytes")

    def _copy_body(self, response, fh, have: int, remote: RemoteFile, report: Callable[[int], None]) -> int:
        while True:
            self._check_cancel()
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise TransientError(describe_network_error(exc)) from exc
            if not chunk:
                return have
            self._heard()
            have += len(chunk)
            if have > remote.size:
                raise WrongSize(f"the server sent more than the listed {remote.size} bytes")
            fh.write(chunk)
            report(have)


def unlisted_cache_name(url: str, remote: RemoteFile) -> str:
    """A cache name for a file without a listed hash: stable across runs (so it resumes),
    distinct per URL, size and commit, and never a path the listing could steer."""
    key = f"{url}\n{remote.size}\n{remote.commit}".encode()
    return f"size-checked-{hashlib.sha256(key).hexdigest()}"


def resumes_at(response: http.client.HTTPResponse, offset: int) -> bool:
    """Whether a response is the ``206`` continuation starting exactly at ``offset``."""
    content_range = response.headers.get("Content-Range", "")
    return response.status == 206 and content_range.startswith(f"bytes {offset}-")


def announced_size(response: http.client.HTTPResponse) -> int | None:
    """The whole file's size as the response states it (Content-Range total, else Content-Length)."""
    content_range = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", "").strip())
    if response.status == 206:
        return int(content_range[1]) if content_range else None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def describe_network_error(exc: BaseException) -> str:
    """A short human reason: 'connection refused', 'timed out', the DNS error..."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
