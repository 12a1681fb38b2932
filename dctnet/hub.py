"""Fetch the official DCT-Net styles from ModelScope and install them as LiveToon styles.

The official looks are published as frozen TensorFlow graphs under Apache-2.0; this
module lists a model repo, downloads its head and bg graphs, checks each against the
SHA-256 the listing gives, and converts them with the ordinary importer.

Design choices, and why (the transport, with its cache, resume, retries and silence
deadline, is :mod:`common.downloads`):

* The styles folder is only ever written by :meth:`StyleRegistry.import_folder`, which
  writes atomically, and only after every file verified. So a wrong hash, a dead
  server, a cut connection or Ctrl-C leave the styles folder exactly as it was.
* When retries run out, the user gets one sentence saying what to download by hand
  and how to import it, because an offline machine is a normal situation, not a bug.
* Namespaces, refusals and listing fields follow what the ModelScope SDK does: the
  canonical ``iic/`` first, a ``Code`` other than 200 means "not here", each file entry
  carries the commit (``Revision``) it was last changed in, and ``Sha256`` may be absent.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.downloads import Downloader, NotServed, RemoteFile, RetriesExhausted, TransientError, describe_network_error, file_sha256, is_http_url
from common.errors import LiveToonError
from .styles import Style, StyleRegistry

DEFAULT_ENDPOINT = "https://www.modelscope.cn"
ENDPOINT_ENV = "LIVETOON_HUB_ENDPOINT"
NAMESPACES = ("iic", "damo")
"""The canonical namespace the models live under now, then the one they were first published in."""
HEAD_FILES = ("cartoon_h.pb", "cartoon_anime_h.pb")
BG_FILES = ("cartoon_bg.pb", "cartoon_anime_bg.pb")
"""Preferred first: the anime repo also carries ``cartoon_anime_*`` twins. The repos'
``alpha.jpg`` blend mask is not fetched: the app generates its own (``align.head_mask``)."""
LICENSE = "Apache-2.0 (DCT-Net, Alibaba DAMO Academy, via ModelScope)"
MAX_LISTING_BYTES = 8 << 20
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) while a style downloads."""


class HubUnreachable(LiveToonError):
    """The hub could not be reached after retries; the message says how to proceed by hand."""


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
            raise NotServed(f"listing Code {code}: {answer.get('Message') or 'no message'}")
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


class HubClient(Downloader):
    """ModelScope's two endpoints (a repo's file listing, one file of a repo) on top of a :class:`Downloader`."""

    def __init__(self, endpoint: str | None = None, **options) -> None:
        super().__init__(**options)
        self.endpoint = resolve_endpoint(endpoint)

    def _url(self, model_id: str, tail: str, **query: str) -> str:
        return f"{self.endpoint}/api/v1/models/{model_id}/{tail}?{urllib.parse.urlencode(query)}"

    # -- the two endpoints ---------------------------------------------------------------
    def list_files(self, model_id: str, revision: str) -> dict[str, RemoteFile]:
        """The files of one model repo at ``revision``; raises NotServed when it is not here."""
        url = self._url(model_id, "repo/files", Revision=revision, Recursive="True")

        def fetch() -> bytes:
            with self._open(url, {}) as response:
                try:
                    return response.read(MAX_LISTING_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise TransientError(describe_network_error(exc)) from exc

        return parse_listing(self._retrying(fetch), url)

    def locate(self, style: OfficialStyle) -> tuple[str, dict[str, RemoteFile]]:
        """(model id, files) under the first namespace that serves the model."""
        refusals = []
        for namespace in NAMESPACES:
            model_id = style.model_id(namespace)
            try:
                return model_id, self.list_files(model_id, style.revision)
            except NotServed as exc:
                refusals.append(f"{model_id}: {exc}")
        raise LiveToonError(
            f"{self.endpoint} serves no model for {style.name!r} at revision {style.revision} ({'; '.join(refusals)})"
        )

    def fetch(self, model_id: str, revision: str, remote: RemoteFile, report: Callable[[int], None]) -> Path:
        """A checked local copy of one file of a model repo (see :meth:`fetch_url`)."""
        url = self._url(model_id, "repo", Revision=revision, FilePath=remote.path)
        return self.fetch_url(url, remote, report, f"{model_id}/{remote.path}")


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
    except RetriesExhausted as exc:
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
    try:
        installed = install_from_cache(registry, name, replace, graphs, metadata, origin=f"{client.endpoint} {model_id}")
    except LiveToonError:  # unusable although the hash matched: the next run must fetch them again, not reuse them
        drop_downloads(local)
        raise
    drop_downloads(local)  # the style now holds the weights
    for path in unlisted:
        client.notify(
            f"note: {model_id} lists no SHA-256 for {path}; its size was checked and the SHA-256 "
            f"computed here ({hashes[path]}) is recorded in style {name!r}"
        )
    return installed


def drop_downloads(local: list[tuple[Path, str]]) -> None:
    """Delete the finished downloads (only partials stay in the cache, for resume)."""
    for path, _ in local:
        path.unlink(missing_ok=True)


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
    registry: StyleRegistry, name: str, replace: bool, pairs: list[tuple[RemoteFile, Path]], metadata: dict[str, str],
    origin: str,
) -> Style:
    """Give the importer a private folder holding the graphs under their official names.

    An error names a file by ``origin`` (the hub and model), not by the private folder,
    which is gone by the time the user reads it."""
    with tempfile.TemporaryDirectory(prefix="livetoon-hub-") as tmp:
        try:
            for remote, path in pairs:
                shutil.copyfile(path, Path(tmp) / remote.basename)
        except OSError as exc:
            raise LiveToonError(f"cannot stage the downloaded files in {tmp}: {exc.strerror or exc}") from exc
        try:
            return registry.import_folder(Path(tmp), name=name, replace=replace, metadata=metadata)
        except LiveToonError as exc:
            exc.args = (str(exc).replace(f"{tmp}{os.sep}", f"{origin}/"),)
            raise
