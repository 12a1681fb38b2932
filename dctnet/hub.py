"""Fetch the official DCT-Net styles from ModelScope and install them as LiveToon styles.

The official looks are published as frozen TensorFlow graphs under Apache-2.0; this
module lists a model repo, downloads its head and bg graphs, checks each against the
SHA-256 the listing gives, and converts them with the ordinary importer.

Design choices, and why:

* Standard-library HTTP (urllib) only: two GET endpoints do not justify a dependency.
* Bytes land in a download cache (``LIVETOON_CACHE_DIR`` or the user cache dir) as
  ``<sha256>.part`` and are appended to, so a cut connection or an interrupted run
  resumes with an HTTP ``Range`` request instead of starting again. Naming by hash
  also means a listing cannot steer a write outside the cache.
* The styles folder is only ever written by :meth:`StyleRegistry.import_folder`, which
  writes atomically, and only after every file verified. So a wrong hash, a dead
  server, a cut connection or Ctrl-C leave the styles folder exactly as it was.
* Network failures are retried with exponential backoff; when they persist, the user
  gets one sentence saying what to download by hand and how to import it, because an
  offline machine is a normal situation, not a bug.
* A server that accepts and then says nothing is the worst case for a user: each try
  waits its socket timeout. So the client says it is waiting after a few seconds, and
  gives up once the server has sent nothing for an overall deadline, all tries
  together (``LIVETOON_HUB_TIMEOUT``), instead of multiplying timeouts by tries.
* Namespaces, refusals and listing fields follow what the ModelScope SDK does: the
  canonical ``iic/`` first, a ``Code`` other than 200 means "not here", each file entry
  carries the commit (``Revision``) it was last changed in, and ``Sha256`` may be absent.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
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
from .styles import Style, StyleRegistry

DEFAULT_ENDPOINT = "https://www.modelscope.cn"
ENDPOINT_ENV = "LIVETOON_HUB_ENDPOINT"
CACHE_ENV = "LIVETOON_CACHE_DIR"
TIMEOUT_ENV = "LIVETOON_HUB_TIMEOUT"
DEFAULT_DEADLINE_S = 45.0
"""How long a server may send nothing, all tries together, before the download gives up."""
READ_TIMEOUT_S = 15.0
"""One try's socket timeout, so a silent server gets about three tries within the deadline."""
NOTICE_AFTER_S = 4.0
"""After this long without an answer the user is told what is being waited for (sooner
when the deadline is short, so the wait is always explained before it ends)."""
NAMESPACES = ("iic", "damo")
"""The canonical namespace the models live under now, then the one they were first published in."""
HEAD_FILES = ("cartoon_h.pb", "cartoon_anime_h.pb")
BG_FILES = ("cartoon_bg.pb", "cartoon_anime_bg.pb")
"""Preferred first: the anime repo also carries ``cartoon_anime_*`` twins. The repos'
``alpha.jpg`` blend mask is not fetched: the app generates its own (``align.head_mask``)."""
LICENSE = "Apache-2.0 (DCT-Net, Alibaba DAMO Academy, via ModelScope)"
CHUNK_BYTES = 1 << 16
MAX_LISTING_BYTES = 8 << 20
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) while a style downloads."""
NoticeCallback = Callable[[str], None]
"""Called with one line a user should see (a wait, a file checked by size only); may
be called from a timer thread."""
T = TypeVar("T")


class HubUnreachable(LiveToonError):
    """The hub could not be reached after retries; the message says how to proceed by hand."""


class DownloadCancelled(LiveToonError):
    """The caller asked to stop; partial downloads stay in the cache for a later resume."""


@dataclass(frozen=True)
class OfficialStyle:
    """One official look: our style name, its ModelScope repo name and revision."""

    name: str
    repo: str
    revision: str = "master"

    def model_id(self, namespace: str = NAMESPACES[0]) -> str:
        return f"{namespace}/{self.repo}"

    def page_url(self) -> str:
        """The official model page, even behind a mirror: where a person can always look."""
        return f"{DEFAULT_ENDPOINT}/models/{self.model_id()}/files"


OFFICIAL_STYLES: dict[str, OfficialStyle] = {
    style.name: style
    for style in (
        OfficialStyle("anime", "cv_unet_person-image-cartoon_compound-models"),
        OfficialStyle("3d", "cv_unet_person-image-cartoon-3d_compound-models"),
        OfficialStyle("handdrawn", "cv_unet_person-image-cartoon-handdrawn_compound-models"),
        OfficialStyle("sketch", "cv_unet_person-image-cartoon-sketch_compound-models"),
        OfficialStyle("artstyle", "cv_unet_person-image-cartoon-artstyle_compound-models"),
        OfficialStyle("design", "cv_unet_person-image-cartoon-sd-design_compound-models", "v1.0.0"),
        OfficialStyle("illustration", "cv_unet_person-image-cartoon-sd-illustration_compound-models", "v1.0.0"),
    )
}


def official_style(name: str) -> OfficialStyle:
    if name not in OFFICIAL_STYLES:
        raise LiveToonError(f"no official style named {name!r} (available: {', '.join(OFFICIAL_STYLES)})")
    return OFFICIAL_STYLES[name]


def resolve_endpoint(endpoint: str | None = None) -> str:
    """``endpoint``, else ``$LIVETOON_HUB_ENDPOINT``, else ModelScope; refused unless http(s)."""
    chosen = (endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).strip().rstrip("/")
    if not is_http_url(chosen):
        raise LiveToonError(f"invalid hub endpoint {chosen!r}: expected a URL such as {DEFAULT_ENDPOINT}")
    return chosen


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


class _Transient(Exception):
    """Internal: a failure worth retrying (network error, 5xx, short body)."""


class _NotServed(Exception):
    """Internal: the server will not give us this (404, 401/403, a listing whose Code is not 200)."""


class _ResumeRefused(_Transient):
    """Internal: HTTP 416, the server will not continue our partial file (so start it over)."""


class _WrongSize(Exception):
    """Internal: the server sends a file of another size than listed; retrying cannot help."""


class _Unreachable(Exception):
    """Internal: retries ran out; the caller knows what to tell the user."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_listing(payload: bytes, url: str) -> dict[str, RemoteFile]:
    """ModelScope's ``{"Code": 200, "Data": {"Files": [...]}}`` as files by path; folders are skipped.

    A ``Code`` other than 200 (or ``Success: false``) is how ModelScope refuses with an
    HTTP 200, for example for a model it hides from anonymous users; like a 404 it
    means "try the other namespace". A mirror that sends no ``Code`` is taken at its word.
    """
    try:
        answer = json.loads(payload)
        code = answer.get("Code", 200)
        if str(code) != "200" or answer.get("Success") is False:
            raise _NotServed(f"listing Code {code}: {answer.get('Message') or 'no message'}")
        entries = answer["Data"]["Files"]
        files = [
            RemoteFile(
                str(e["Path"]), int(e.get("Size") or 0), str(e.get("Sha256") or "").lower(), str(e.get("Revision") or "")
            )
            for e in entries
            if e.get("Type", "blob") != "tree"
        ]
        if any(f.size < 0 for f in files):
            raise ValueError("a negative file size")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LiveToonError(f"unexpected file listing from {url} ({type(exc).__name__}: {exc})") from exc
    return {f.path: f for f in files}


class HubClient:
    """The two ModelScope endpoints, with timeouts, retries and resumable downloads.

    ``cancel`` is polled between chunks and during backoff, so a front end can stop
    a download from another thread within one chunk or one socket timeout.
    ``deadline`` bounds how long the server may stay silent, all tries of one request
    together; the clock restarts whenever bytes arrive, so a slow but live download is
    never cut. One client serves one download at a time.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        cache: Path | None = None,
        timeout: float = READ_TIMEOUT_S,
        attempts: int = 4,
        backoff: float = 1.0,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        notify: NoticeCallback | None = None,
        notice_after: float | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.cache = cache if cache is not None else cache_dir()
        self.timeout, self.attempts, self.backoff = timeout, max(1, attempts), backoff
        self.cancel = cancel or threading.Event()
        self.deadline = resolve_deadline(deadline)
        self.notify = notify or (lambda message: None)
        self.notice_after = notice_after if notice_after is not None else min(NOTICE_AFTER_S, self.deadline / 3)
        self._heard_at = time.monotonic()
        self._told_waiting = False

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.endpoint).netloc

    # -- HTTP -------------------------------------------------------------------------
    def _url(self, model_id: str, tail: str, **query: str) -> str:
        return f"{self.endpoint}/api/v1/models/{model_id}/{tail}?{urllib.parse.urlencode(query)}"

    def _time_left(self) -> float:
        return self.deadline - (time.monotonic() - self._heard_at)

    def _heard(self) -> None:
        """The server sent something: its silence deadline starts over."""
        self._heard_at = time.monotonic()

    def _tell_waiting(self) -> None:
        if not self._told_waiting:
            self._told_waiting = True
            self.notify(f"waiting for {self.host}: no answer after {self.notice_after:.1f} s "
                        f"(giving up after {self.deadline:g} s of silence, {TIMEOUT_ENV} to change)")

    def _open(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        request = urllib.request.Request(url, headers={"User-Agent": "livetoon", **headers})
        waiting = threading.Timer(self.notice_after, self._tell_waiting)
        waiting.daemon = True
        waiting.start()
        try:
            response = urllib.request.urlopen(request, timeout=max(0.01, min(self.timeout, self._time_left())))
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (401, 403, 404):
                raise _NotServed(f"HTTP {exc.code} {exc.reason}") from exc
            if exc.code == 416:
                raise _ResumeRefused(f"HTTP {exc.code} {exc.reason}") from exc
            if exc.code in RETRY_STATUSES:
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
            raise LiveToonError(f"{url}: the hub answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _Transient(describe_network_error(exc)) from exc
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
                raise _Unreachable(f"no answer for {self.deadline:g} s, last try: {reason}")
            try:
                return action()
            except _Transient as exc:
                reason = str(exc)
        raise _Unreachable(reason)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled("download cancelled")

    # -- the two endpoints ---------------------------------------------------------------
    def list_files(self, model_id: str, revision: str) -> dict[str, RemoteFile]:
        """The files of one model repo at ``revision``; raises _NotServed when it is not here."""
        url = self._url(model_id, "repo/files", Revision=revision, Recursive="True")

        def fetch() -> bytes:
            with self._open(url, {}) as response:
                try:
                    return response.read(MAX_LISTING_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(describe_network_error(exc)) from exc

        return parse_listing(self._retrying(fetch), url)

    def locate(self, style: OfficialStyle) -> tuple[str, dict[str, RemoteFile]]:
        """(model id, files) under the first namespace that serves the model."""
        refusals = []
        for namespace in NAMESPACES:
            model_id = style.model_id(namespace)
            try:
                return model_id, self.list_files(model_id, style.revision)
            except _NotServed as exc:
                refusals.append(f"{model_id}: {exc}")
        raise LiveToonError(
            f"{self.endpoint} serves no model for {style.name!r} at revision {style.revision} ({'; '.join(refusals)})"
        )

    def fetch(self, model_id: str, revision: str, remote: RemoteFile, report: Callable[[int], None]) -> Path:
        """A checked local copy of one file of a model repo (see :meth:`fetch_url`)."""
        url = self._url(model_id, "repo", Revision=revision, FilePath=remote.path)
        return self.fetch_url(url, remote, report, f"{model_id}/{remote.path}")

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
        except _NotServed as exc:
            raise LiveToonError(f"{label}: the server does not serve this file ({exc})") from exc
        except _WrongSize as exc:
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
        except _ResumeRefused as exc:
            part.unlink()  # a partial this server will not continue would block every later run
            raise _Transient("the server refused to resume a partial download") from exc
        with response:
            if have and not resumes_at(response, have):
                have = 0  # the server sent the whole file (or another range): start over
            announced = announced_size(response)
            if announced is not None and announced != remote.size:
                raise _WrongSize(f"the server sends {announced} bytes where the listing says {remote.size}")
            report(have)
            with part.open("ab" if have else "wb") as fh:
                have = self._copy_body(response, fh, have, remote, report)
        if have < remote.size:
            raise _Transient(f"connection closed after {have} of {remote.size} bytes")

    def _copy_body(self, response, fh, have: int, remote: RemoteFile, report: Callable[[int], None]) -> int:
        while True:
            self._check_cancel()
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(describe_network_error(exc)) from exc
            if not chunk:
                return have
            self._heard()
            have += len(chunk)
            if have > remote.size:
                raise _WrongSize(f"the server sent more than the listed {remote.size} bytes")
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


@dataclass(frozen=True)
class Selection:
    """The files of one repo that make a style: its head and bg graphs."""

    head: RemoteFile
    bg: RemoteFile

    @property
    def files(self) -> list[RemoteFile]:
        return [self.head, self.bg]


def pick_file(files: dict[str, RemoteFile], candidates: tuple[str, ...], model_id: str) -> RemoteFile | None:
    """The first listed of ``candidates``, refused when nothing about it could be checked.

    A malformed hash means the listing is not what we think it is; no hash at all is
    allowed (the size is then checked), but not when the size is missing too.
    """
    found = next((files[name] for name in candidates if name in files), None)
    if found is None:
        return None
    if found.sha256 and not SHA256_PATTERN.match(found.sha256):
        raise LiveToonError(f"{model_id}: the listing gives a malformed SHA-256 for {found.path} ({found.sha256[:80]!r})")
    if not found.sha256 and found.size <= 0:
        raise LiveToonError(f"{model_id}: the listing gives neither a SHA-256 nor a size for {found.path}, so it cannot be checked")
    return found


def select_files(files: dict[str, RemoteFile], model_id: str) -> Selection:
    """The head and bg graphs by their official names."""
    head, bg = pick_file(files, HEAD_FILES, model_id), pick_file(files, BG_FILES, model_id)
    if head is None or bg is None:
        wanted = HEAD_FILES if head is None else BG_FILES
        raise LiveToonError(f"{model_id} lists none of {', '.join(wanted)}; is it a DCT-Net model?")
    return Selection(head, bg)


def manual_instructions(style: OfficialStyle) -> str:
    revision = "" if style.revision == "master" else f" (revision {style.revision})"
    return (
        f"to install {style.name!r} by hand, download {HEAD_FILES[0]} and {BG_FILES[0]} from "
        f"{style.page_url()}{revision} into a folder, then run "
        f"`livetoon styles import FOLDER --name {style.name}`"
    )


def download_style(
    name: str,
    registry: StyleRegistry,
    client: HubClient,
    replace: bool = False,
    progress: ProgressCallback | None = None,
) -> Style:
    """Download, verify and install one official style; the styles folder changes only on success."""
    style = official_style(name)
    registry.check_new_name(name, replace)
    try:
        model_id, files = client.locate(style)
        selection = select_files(files, model_id)
        local = download_selection(client, model_id, style.revision, selection, progress or (lambda done, total: None))
    except _Unreachable as exc:
        raise HubUnreachable(f"cannot reach {client.endpoint} ({exc}); {manual_instructions(style)}") from exc
    hashes = {remote.path: sha for remote, (_, sha) in zip(selection.files, local)}
    unlisted = [remote.path for remote in selection.files if not remote.sha256]
    metadata = {
        "origin": f"downloaded from {client.endpoint}, model {model_id}, revision {style.revision}",
        "hub_model": model_id,
        "hub_revision": style.revision,
        "hub_commits": json.dumps({f.path: f.commit for f in selection.files if f.commit}),
        "hub_endpoint": client.endpoint,
        "hub_sha256": json.dumps(hashes),
        "hub_sha256_not_listed": json.dumps(unlisted),
        "license": LICENSE,
    }
    graphs = [(remote, path) for remote, (path, _) in zip(selection.files, local)]
    installed = install_from_cache(registry, name, replace, graphs, metadata)
    for path, _ in local:
        path.unlink(missing_ok=True)  # the style now holds the weights; keep only partials for resume
    for path in unlisted:
        client.notify(
            f"note: {model_id} lists no SHA-256 for {path}; its size was checked and the SHA-256 "
            f"computed here ({hashes[path]}) is recorded in style {name!r}"
        )
    return installed


def download_selection(
    client: HubClient, model_id: str, revision: str, selection: Selection, progress: ProgressCallback
) -> list[tuple[Path, str]]:
    """Every selected file, checked, as (local copy, SHA-256) in selection order; progress spans them all.

    The SHA-256 is the listed one, or for a file listed without one, computed here so
    the style can record what was installed.
    """
    total = sum(f.size for f in selection.files)
    done_before = 0
    local = []
    for remote in selection.files:
        path = client.fetch(model_id, revision, remote, lambda have, base=done_before: progress(base + have, total))
        local.append((path, remote.sha256 or file_sha256(path)))
        done_before += remote.size
    return local


def install_from_cache(
    registry: StyleRegistry, name: str, replace: bool, pairs: list[tuple[RemoteFile, Path]], metadata: dict[str, str]
) -> Style:
    """Give the importer a private folder holding the graphs under their official names."""
    with tempfile.TemporaryDirectory(prefix="livetoon-hub-") as tmp:
        try:
            for remote, path in pairs:
                shutil.copyfile(path, Path(tmp) / remote.basename)
        except OSError as exc:
            raise LiveToonError(f"cannot stage the downloaded files in {tmp}: {exc.strerror or exc}") from exc
        return registry.import_folder(Path(tmp), name=name, replace=replace, metadata=metadata)
