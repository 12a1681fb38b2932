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
NAMESPACES = ("damo", "iic")
"""Where the models were published first, then the namespace newer mirrors use."""
HEAD_FILES = ("cartoon_h.pb", "cartoon_anime_h.pb")
BG_FILES = ("cartoon_bg.pb", "cartoon_anime_bg.pb")
"""Preferred first: the anime repo also carries ``cartoon_anime_*`` twins."""
MASK_FILE = "alpha.jpg"
LICENSE = "Apache-2.0 (DCT-Net, Alibaba DAMO Academy, via ModelScope)"
CHUNK_BYTES = 1 << 16
MAX_LISTING_BYTES = 8 << 20
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) while a style downloads."""
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


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override) / "hub"
    import platformdirs  # here only, as in styles.user_data_dir: the GPU image lacks it

    return Path(platformdirs.user_cache_dir("livetoon", appauthor=False)) / "hub"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model repo as the listing describes it."""

    path: str
    size: int
    sha256: str

    @property
    def basename(self) -> str:
        return self.path.rpartition("/")[2]


class _Transient(Exception):
    """Internal: a failure worth retrying (network error, 5xx, short body)."""


class _NotFound(Exception):
    """Internal: the model (or revision) does not exist under this namespace."""


class _ResumeRefused(_Transient):
    """Internal: HTTP 416, the server will not continue our partial file (so start it over)."""


class _Unreachable(Exception):
    """Internal: retries ran out; the caller knows what to tell the user."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_listing(payload: bytes, url: str) -> dict[str, RemoteFile]:
    """ModelScope's ``{"Data": {"Files": [...]}}`` as files by path; folders are skipped."""
    try:
        answer = json.loads(payload)
        if answer.get("Success") is False:
            raise _NotFound
        entries = answer["Data"]["Files"]
        files = [
            RemoteFile(str(e["Path"]), int(e.get("Size", 0)), str(e.get("Sha256") or "").lower())
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
    """

    def __init__(
        self,
        endpoint: str | None = None,
        cache: Path | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 1.0,
        cancel: threading.Event | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.cache = cache if cache is not None else cache_dir()
        self.timeout, self.attempts, self.backoff = timeout, max(1, attempts), backoff
        self.cancel = cancel or threading.Event()

    # -- HTTP -------------------------------------------------------------------------
    def _url(self, model_id: str, tail: str, **query: str) -> str:
        return f"{self.endpoint}/api/v1/models/{model_id}/{tail}?{urllib.parse.urlencode(query)}"

    def _open(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        request = urllib.request.Request(url, headers={"User-Agent": "livetoon", **headers})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise _NotFound from exc
            if exc.code == 416:
                raise _ResumeRefused(f"HTTP {exc.code} {exc.reason}") from exc
            if exc.code in RETRY_STATUSES:
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
            raise LiveToonError(f"{url}: the hub answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _Transient(describe_network_error(exc)) from exc

    def _retrying(self, action: Callable[[], T]) -> T:
        """``action`` until it stops failing transiently, waiting backoff x 1, 2, 4..."""
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                self.cancel.wait(self.backoff * 2 ** (attempt - 1))
            self._check_cancel()
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
        url = self._url(model_id, "repo/files", Revision=revision, Recursive="True")

        def fetch() -> bytes:
            with self._open(url, {}) as response:
                try:
                    return response.read(MAX_LISTING_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(describe_network_error(exc)) from exc

        return parse_listing(self._retrying(fetch), url)

    def locate(self, style: OfficialStyle) -> tuple[str, dict[str, RemoteFile]]:
        """(model id, files) under the first namespace that has the model."""
        for namespace in NAMESPACES:
            try:
                return style.model_id(namespace), self.list_files(style.model_id(namespace), style.revision)
            except _NotFound:
                continue
        tried = " nor ".join(style.model_id(ns) for ns in NAMESPACES)
        raise LiveToonError(f"{self.endpoint} has neither {tried} at revision {style.revision}")

    def fetch(self, model_id: str, revision: str, remote: RemoteFile, report: Callable[[int], None]) -> Path:
        """A verified local copy of one file of a model repo (see :meth:`fetch_url`)."""
        url = self._url(model_id, "repo", Revision=revision, FilePath=remote.path)
        return self.fetch_url(url, remote, report, f"{model_id}/{remote.path}")

    def fetch_url(self, url: str, remote: RemoteFile, report: Callable[[int], None], label: str) -> Path:
        """A verified local copy of ``remote`` from ``url`` in the cache, resuming any partial download."""
        final = self.cache / remote.sha256
        if final.is_file() and file_sha256(final) == remote.sha256:
            report(remote.size)
            return final
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LiveToonError(f"cannot create the download cache {self.cache}: {exc.strerror}") from exc
        part = final.with_name(f"{remote.sha256}.part")
        try:
            self._retrying(lambda: self._download_once(url, part, remote, report))
        except _NotFound as exc:
            raise LiveToonError(f"{label}: the server has no such file") from exc
        except OSError as exc:  # network errors were turned into retries: this is the local disk
            raise LiveToonError(f"cannot write the download cache {self.cache}: {exc.strerror or exc}") from exc
        actual = file_sha256(part)
        if actual != remote.sha256:
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
            have += len(chunk)
            if have > remote.size:
                raise _Transient(f"{remote.path}: the server sent more than the listed {remote.size} bytes")
            fh.write(chunk)
            report(have)


def resumes_at(response: http.client.HTTPResponse, offset: int) -> bool:
    """Whether a response is the ``206`` continuation starting exactly at ``offset``."""
    content_range = response.headers.get("Content-Range", "")
    return response.status == 206 and content_range.startswith(f"bytes {offset}-")


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
    """The files of one repo that make a style: head and bg graphs, and the mask if any."""

    head: RemoteFile
    bg: RemoteFile
    mask: RemoteFile | None

    @property
    def files(self) -> list[RemoteFile]:
        return [f for f in (self.head, self.bg, self.mask) if f is not None]


def pick_file(files: dict[str, RemoteFile], candidates: tuple[str, ...], model_id: str) -> RemoteFile | None:
    """The first listed of ``candidates``; a file we would fetch must carry a usable SHA-256."""
    found = next((files[name] for name in candidates if name in files), None)
    if found is not None and not SHA256_PATTERN.match(found.sha256):
        raise LiveToonError(f"{model_id}: the listing gives no valid SHA-256 for {found.path}, so it cannot be verified")
    return found


def select_files(files: dict[str, RemoteFile], model_id: str) -> Selection:
    """The head and bg graphs by their official names, and the blend mask when listed."""
    head, bg = pick_file(files, HEAD_FILES, model_id), pick_file(files, BG_FILES, model_id)
    if head is None or bg is None:
        wanted = HEAD_FILES if head is None else BG_FILES
        raise LiveToonError(f"{model_id} lists none of {', '.join(wanted)}; is it a DCT-Net model?")
    return Selection(head, bg, pick_file(files, (MASK_FILE,), model_id))


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
    metadata = {
        "origin": f"downloaded from {client.endpoint}, model {model_id}, revision {style.revision}",
        "hub_model": model_id,
        "hub_revision": style.revision,
        "hub_endpoint": client.endpoint,
        "hub_sha256": json.dumps({f.path: f.sha256 for f in selection.files}),
        "license": LICENSE,
    }
    graphs = list(zip((selection.head, selection.bg), local))
    installed = install_from_cache(registry, name, replace, graphs, metadata)
    for path in local:
        path.unlink(missing_ok=True)  # the style now holds the weights; keep only partials for resume
    return installed


def download_selection(
    client: HubClient, model_id: str, revision: str, selection: Selection, progress: ProgressCallback
) -> list[Path]:
    """Every selected file, verified, in selection order; progress spans them all."""
    total = sum(f.size for f in selection.files)
    done_before = 0
    local = []
    for remote in selection.files:
        local.append(client.fetch(model_id, revision, remote, lambda have, base=done_before: progress(base + have, total)))
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
