"""Downloading official styles: a real HTTP server on 127.0.0.1 plays ModelScope.

The server speaks the two endpoints LiveToon uses (file listing, file download with
``Range``) and serves GraphDef files written here with random weights, so every test
goes through real sockets, real files and the real importer. It can also refuse
(401/403, a listing ``Code`` other than 200), leave out hashes or sizes, or lie about
sizes; a bare socket that accepts and never answers plays a hung server. Each user-facing
case is also run through ``main.py`` in a subprocess, to check the promise: one
``livetoon: error:`` line, a non-zero exit, no traceback, nothing under a final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.commands.cli import main
from dctnet.align import CROP_SIZE, REFERENCE_POINTS
from dctnet.engine import Stylizer
from common.errors import LiveToonError
from faces.finder import Face
from common.downloads import CHUNK_BYTES, DownloadCancelled
from dctnet.hub import OFFICIAL_STYLES, HubClient, HubUnreachable, download_style
from dctnet.styles import StyleRegistry
from common.errors import WeightsError
from dctnet.weights import load_style
from tests.conftest import REPO_ROOT
from tests.graphdef import graphdef_bytes
from tests.test_cli_image import assert_clean_failure
from tests.test_weights import official_pb_constants

ANIME = OFFICIAL_STYLES["anime"]
DESIGN = OFFICIAL_STYLES["design"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pb_file(seed: int, channels: int = 8) -> bytes:
    """A small official-format graph; weights scaled down so activations stay tame."""
    constants = official_pb_constants(seed, channels)
    return graphdef_bytes({name: (array * np.float32(0.2), "content") for name, array in constants.items()})


HEAD, BG, MASK = pb_file(1), pb_file(2), b"\xff\xd8 not really a jpeg \xff\xd9"
REPO_FILES = {"cartoon_h.pb": HEAD, "cartoon_bg.pb": BG, "alpha.jpg": MASK, "configuration.json": b"{}"}


def commit_of(path: str) -> str:
    """The commit id the fake listing gives a file (ModelScope's per-file ``Revision``)."""
    return hashlib.sha1(f"commit of {path}".encode()).hexdigest()


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeHub:
    """What the server holds, how it misbehaves, and what it was asked."""

    repos: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)  # (model id, revision) -> files
    listed_sha: dict[str, str | None] = field(default_factory=dict)  # file path -> claimed hash (None: no key)
    listed_size: dict[str, int | None] = field(default_factory=dict)  # file path -> claimed size (None: no key)
    refuse: dict[str, int] = field(default_factory=dict)  # model id -> HTTP status its listing answers
    listing_code: dict[str, int] = field(default_factory=dict)  # model id -> Code its listing says, with HTTP 200
    cut_after: dict[str, int] = field(default_factory=dict)  # file path -> bytes sent before hanging up, once
    seconds_per_chunk: float = 0.0
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def downloads(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.query.get("FilePath") == path]

    def listed_namespaces(self) -> list[str]:
        return [r.path.split("/")[4] for r in self.requests if r.path.endswith("/repo/files")]


class HubHandler(BaseHTTPRequestHandler):
    ROUTE = re.compile(r"/api/v1/models/([^/]+/[^/]+)/repo(/files)?")

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.hub.requests.append(Request(url.path, query, dict(self.headers)))
        route = self.ROUTE.fullmatch(url.path)
        files = self.hub.repos.get((route[1], query.get("Revision", "master"))) if route else None
        if route and route[2] and route[1] in self.hub.refuse:
            self.send_error(self.hub.refuse[route[1]])
        elif route and route[2] and route[1] in self.hub.listing_code:
            code = self.hub.listing_code[route[1]]
            answer = {"Code": code, "Message": "get model info failed, err: unauthorized permission", "Success": False}
            self.send_body(200, json.dumps(answer).encode(), {})
        elif files is None:
            self.send_error(404)
        elif route[2]:
            self.send_listing(files)
        elif query.get("FilePath") in files:
            self.send_file(query["FilePath"], files[query["FilePath"]])
        else:
            self.send_error(404)

    def send_listing(self, files: dict[str, bytes]) -> None:
        entries = [{"Name": "sub", "Path": "sub", "Type": "tree", "Size": 0, "Sha256": ""}]
        for path, data in files.items():
            entry = {"Name": path.rpartition("/")[2], "Path": path, "Type": "blob", "Revision": commit_of(path),
                     "Size": self.hub.listed_size.get(path, len(data)), "Sha256": self.hub.listed_sha.get(path, sha256(data))}
            entries.append({k: v for k, v in entry.items() if v is not None})
        self.send_body(200, json.dumps({"Code": 200, "Data": {"Files": entries}, "Success": True}).encode(), {})

    def send_file(self, path: str, data: bytes) -> None:
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = int(wanted[1]) if wanted else 0
        headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if wanted else {}
        cut = self.hub.cut_after.pop(path, None)
        self.send_body(206 if wanted else 200, data[start:], headers, cut)

    def send_body(self, status: int, body: bytes, headers: dict[str, str], cut: int | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        sent = body[:cut] if cut is not None else body
        self.close_connection = True
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a cancelled client hangs up
            for at in range(0, len(sent), 16384):
                self.wfile.write(sent[at:at + 16384])
                time.sleep(self.hub.seconds_per_chunk)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    state = FakeHub(repos={(ANIME.model_id("iic"), "master"): dict(REPO_FILES)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    server.daemon_threads = True
    server.hub = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dirs(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(styles folder, download cache), both under tmp_path, also for StyleRegistry()."""
    monkeypatch.setenv("LIVETOON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIVETOON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LIVETOON_HUB_ENDPOINT", raising=False)
    return tmp_path / "data" / "styles", tmp_path / "cache" / "hub"


def registry() -> StyleRegistry:
    return StyleRegistry()


def livetoon(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``main.py`` in a subprocess, with this test's data and cache folders (see ``dirs``)."""
    keep = ("LIVETOON_DATA_DIR", "LIVETOON_CACHE_DIR", "HOME", "PATH")
    environment = {**{k: os.environ[k] for k in keep if k in os.environ}, **env}
    command = [sys.executable, str(REPO_ROOT / "main.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=environment, timeout=120)


def assert_no_finished_downloads(cache: Path) -> None:
    """Only resumable ``.part`` files may stay in the cache after a failure."""
    leftovers = [p.name for p in cache.glob("*") if not p.name.endswith(".part")]
    assert not leftovers, leftovers


def client(url: str, **options) -> HubClient:
    return HubClient(url, **{"attempts": 3, "backoff": 0.01, "timeout": 5.0, **options})


def assert_only_complete_styles(styles_dir: Path, names: set[str]) -> None:
    """The styles folder holds exactly these styles, each loadable: no temp or partial file."""
    present = {p.name for p in styles_dir.iterdir()} if styles_dir.exists() else set()
    assert present == {f"{n}.safetensors" for n in names}
    for name in names:
        load_style(styles_dir / f"{name}.safetensors")


def small_image_and_face() -> tuple[np.ndarray, Face]:
    """A 128x128 picture with a face placed where alignment maps it onto the crop's points."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    points = (REFERENCE_POINTS * (96 / CROP_SIZE) + 16).astype(np.float32)
    return image, Face(points, (16.0, 16.0, 112.0, 112.0))


def test_download_installs_what_a_manual_import_installs(hub, dirs, tmp_path):
    styles_dir, cache = dirs
    seen: list[tuple[int, int]] = []
    style = download_style("anime", registry(), client(hub.url), progress=lambda done, total: seen.append((done, total)))

    manual = tmp_path / "manual"
    manual.mkdir()
    for name in ("cartoon_h.pb", "cartoon_bg.pb"):
        (manual / name).write_bytes(REPO_FILES[name])
    assert main(["styles", "import", str(manual), "--name", "by-hand"]) == 0
    by_hand = registry().get("by-hand")

    head, bg, meta = style.load()
    head_ref, bg_ref, meta_ref = by_hand.load()
    for got, want in ((head, head_ref), (bg, bg_ref)):
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    image, face = small_image_and_face()
    outputs = [Stylizer.from_style(s, device="cpu").stylize(image, [face]) for s in (style, by_hand)]
    assert np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], Stylizer.from_style(style, device="cpu", mode="background").stylize(image)), \
        "the head pass took part"

    total = len(HEAD) + len(BG)
    assert seen[-1] == (total, total) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert meta["hub_model"] == ANIME.model_id("iic") and meta["hub_revision"] == "master"
    assert hub.listed_namespaces() == ["iic"], "the canonical namespace is asked first"
    assert meta["hub_endpoint"] == hub.url and "Apache-2.0" in meta["license"]
    fetched = ("cartoon_h.pb", "cartoon_bg.pb")
    assert json.loads(meta["hub_sha256"]) == {p: sha256(REPO_FILES[p]) for p in fetched}
    assert json.loads(meta["hub_commits"]) == {p: commit_of(p) for p in fetched}
    assert json.loads(meta["hub_sha256_not_listed"]) == []
    assert meta["source_sha256"] == meta_ref["source_sha256"]
    assert not hub.downloads("configuration.json") and not hub.downloads("alpha.jpg"), "only the graphs are fetched"
    assert_only_complete_styles(styles_dir, {"anime", "by-hand"})
    assert list(cache.iterdir()) == [], "verified downloads leave the cache once installed"


def test_wrong_hash_installs_nothing(hub, dirs):
    styles_dir, cache = dirs
    hub.listed_sha["cartoon_bg.pb"] = "0" * 64
    with pytest.raises(LiveToonError, match=r"cartoon_bg\.pb: SHA-256 mismatch .*nothing was installed"):
        download_style("anime", registry(), client(hub.url))
    assert_only_complete_styles(styles_dir, set())
    assert not list(cache.glob("*.part")), "a file that failed verification is not kept for resuming"

    hub.listed_sha["cartoon_bg.pb"] = "abc"
    with pytest.raises(LiveToonError, match=r"malformed SHA-256 for cartoon_bg\.pb \('abc'\)"):
        download_style("anime", registry(), client(hub.url))
    assert_only_complete_styles(styles_dir, set())


def test_corrupt_partial_in_the_cache_is_discarded(hub, dirs):
    styles_dir, cache = dirs
    cache.mkdir(parents=True)
    (cache / f"{sha256(HEAD)}.part").write_bytes(b"x" * 1000)
    with pytest.raises(LiveToonError, match=r"cartoon_h\.pb: SHA-256 mismatch"):
        download_style("anime", registry(), client(hub.url))
    assert hub.downloads("cartoon_h.pb")[0].headers["Range"] == "bytes=1000-"
    assert_only_complete_styles(styles_dir, set())

    download_style("anime", registry(), client(hub.url))
    assert "Range" not in hub.downloads("cartoon_h.pb")[-1].headers, "the next run starts that file over"
    assert_only_complete_styles(styles_dir, {"anime"})


def test_cut_connection_resumes_with_range(hub, dirs):
    styles_dir, _ = dirs
    hub.cut_after["cartoon_h.pb"] = 50_000
    style = download_style("anime", registry(), client(hub.url))

    first, retry = hub.downloads("cartoon_h.pb")
    assert "Range" not in first.headers and retry.headers["Range"] == "bytes=50000-"
    assert json.loads(style.load()[2]["source_sha256"])["cartoon_h.pb"] == sha256(HEAD)
    assert_only_complete_styles(styles_dir, {"anime"})


def test_interrupted_run_leaves_no_style_and_the_next_run_resumes(hub, dirs):
    styles_dir, cache = dirs

    def ctrl_c(done: int, total: int) -> None:
        if done > len(HEAD) + 20_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_style("anime", registry(), client(hub.url), progress=ctrl_c)
    assert_only_complete_styles(styles_dir, set())
    assert (cache / f"{sha256(BG)}.part").stat().st_size > 0

    download_style("anime", registry(), client(hub.url))
    assert hub.downloads("cartoon_bg.pb")[-1].headers["Range"] == f"bytes={CHUNK_BYTES}-"
    assert len(hub.downloads("cartoon_h.pb")) == 1, "the verified head came from the cache"
    assert_only_complete_styles(styles_dir, {"anime"})


def test_cancel_stops_between_chunks(hub, dirs):
    styles_dir, _ = dirs
    stop = threading.Event()
    with pytest.raises(DownloadCancelled):
        download_style("anime", registry(), client(hub.url, cancel=stop), progress=lambda done, total: stop.set())
    assert_only_complete_styles(styles_dir, set())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("case, reason", [("refused", "connection refused"), ("silent", "timed out")])
def test_unreachable_hub_says_what_to_download_by_hand(dirs, case, reason):
    styles_dir, _ = dirs
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(silent_server()) if case == "silent" else free_port()
        with pytest.raises(HubUnreachable) as caught:
            download_style("design", registry(), client(f"http://127.0.0.1:{port}", attempts=2, timeout=0.3))
    message = str(caught.value)
    assert "\n" not in message and reason in message
    for part in (DESIGN.page_url(), "v1.0.0", "cartoon_h.pb", "cartoon_bg.pb", "livetoon styles import FOLDER --name design"):
        assert part in message
    assert_only_complete_styles(styles_dir, set())


def test_silent_server_is_announced_and_given_up_on_at_the_deadline(dirs):
    styles_dir, cache = dirs
    notices: list[str] = []
    with silent_server() as port:
        hung = client(f"http://127.0.0.1:{port}", attempts=4, timeout=30.0, deadline=1.0, notify=notices.append)
        started = time.monotonic()
        with pytest.raises(HubUnreachable, match=r"no answer for 1 s, last try: timed out"):
            download_style("anime", registry(), hung)
        waited = time.monotonic() - started
    assert waited < 2.5, f"4 tries of 30 s each were cut to the 1 s deadline, but it took {waited:.1f} s"
    assert notices == [f"waiting for 127.0.0.1:{port}: no answer after 0.3 s "
                       "(giving up after 1 s of silence, LIVETOON_HUB_TIMEOUT to change)"], "said once, before giving up"
    assert_only_complete_styles(styles_dir, set())
    assert_no_finished_downloads(cache)


def test_deadline_counts_silence_not_a_slow_download(hub, dirs):
    styles_dir, _ = dirs
    hub.seconds_per_chunk = 0.05  # each graph takes over a second, in 16 KB pieces
    started = time.monotonic()
    download_style("anime", registry(), client(hub.url, deadline=0.5))
    assert time.monotonic() - started > 1.0, "the download outlasted the deadline, as it should here"
    assert len(hub.downloads("cartoon_h.pb")) == 1, "not cut and retried"
    assert_only_complete_styles(styles_dir, {"anime"})


@pytest.mark.parametrize("how", ["env", "option"])
def test_cli_silent_server_gives_one_error_line_within_the_deadline(dirs, how):
    styles_dir, cache = dirs
    with silent_server() as port:
        url = f"http://127.0.0.1:{port}"
        if how == "env":
            result = livetoon("styles", "download", "anime", "--endpoint", url, LIVETOON_HUB_TIMEOUT="2")
        else:
            result = livetoon("styles", "download", "anime", "--endpoint", url, "--timeout", "2")
    assert_clean_failure(result, f"livetoon: error: cannot reach {url} (no answer for 2 s, last try: timed out)",
                         "livetoon styles import FOLDER --name anime")
    assert f"waiting for 127.0.0.1:{port}: no answer after" in result.stdout
    assert_only_complete_styles(styles_dir, set())
    assert_no_finished_downloads(cache)


def test_blend_mask_is_not_fetched_so_its_missing_hash_does_not_matter(hub, dirs):
    styles_dir, cache = dirs
    hub.listed_sha["alpha.jpg"] = None
    hub.listed_size["alpha.jpg"] = None
    result = livetoon("styles", "download", "anime", "--endpoint", hub.url)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "installed style 'anime'" in result.stdout
    assert not hub.downloads("alpha.jpg")
    assert_only_complete_styles(styles_dir, {"anime"})
    assert list(cache.iterdir()) == []


def test_file_without_listed_hash_is_held_to_its_size_and_its_hash_recorded(hub, dirs):
    styles_dir, cache = dirs
    hub.listed_sha["cartoon_bg.pb"] = None
    hub.cut_after["cartoon_bg.pb"] = 50_000
    result = livetoon("styles", "download", "anime", "--endpoint", hub.url)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert (f"note: {ANIME.model_id('iic')} lists no SHA-256 for cartoon_bg.pb; its size was checked and the "
            f"SHA-256 computed here ({sha256(BG)}) is recorded in style 'anime'") in result.stdout.splitlines()
    assert hub.downloads("cartoon_bg.pb")[-1].headers["Range"] == "bytes=50000-", "it resumes like any file"
    meta = registry().get("anime").load()[2]
    assert json.loads(meta["hub_sha256"]) == {"cartoon_h.pb": sha256(HEAD), "cartoon_bg.pb": sha256(BG)}
    assert json.loads(meta["hub_sha256_not_listed"]) == ["cartoon_bg.pb"]
    assert_only_complete_styles(styles_dir, {"anime"})
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("listed_size, message", [
    (None, "the listing gives neither a SHA-256 nor a size for cartoon_bg.pb, so it cannot be checked"),
    (len(BG) + 10, f"the server sends {len(BG)} bytes where the listing says {len(BG) + 10}, so nothing was installed"),
    (len(BG) - 10, f"the server sends {len(BG)} bytes where the listing says {len(BG) - 10}, so nothing was installed"),
], ids=["no size", "listed bigger", "listed smaller"])
def test_file_without_hash_and_a_wrong_or_missing_size_is_refused(hub, dirs, listed_size, message):
    styles_dir, cache = dirs
    hub.listed_sha["cartoon_bg.pb"] = None
    hub.listed_size["cartoon_bg.pb"] = listed_size
    result = livetoon("styles", "download", "anime", "--endpoint", hub.url)
    assert_clean_failure(result, message)
    assert len(hub.downloads("cartoon_bg.pb")) <= 1, "a wrong size is not retried"
    assert_only_complete_styles(styles_dir, set())
    assert not list(cache.glob("size-checked-*")), "a file of the wrong size is not kept to resume"


@pytest.mark.parametrize("refusal", ["404", "401", "403", "listing Code"])
def test_namespace_falls_back_from_iic_to_damo_and_revision_is_per_style(hub, dirs, refusal):
    styles_dir, _ = dirs
    hub.repos = {(DESIGN.model_id("damo"), "v1.0.0"): dict(REPO_FILES)}
    if refusal == "listing Code":
        hub.repos[(DESIGN.model_id("iic"), "v1.0.0")] = dict(REPO_FILES)  # there, but the listing refuses
        hub.listing_code[DESIGN.model_id("iic")] = 10010101004
    elif refusal != "404":
        hub.refuse[DESIGN.model_id("iic")] = int(refusal)
    style = download_style("design", registry(), client(hub.url))

    assert hub.listed_namespaces() == ["iic", "damo"]
    assert {r.query["Revision"] for r in hub.requests} == {"v1.0.0"}
    assert style.load()[2]["hub_model"] == DESIGN.model_id("damo")
    assert_only_complete_styles(styles_dir, {"design"})


def test_refused_everywhere_is_one_line_naming_each_refusal(hub, dirs):
    styles_dir, cache = dirs
    hub.refuse[ANIME.model_id("iic")] = 403
    hub.listing_code[ANIME.model_id("damo")] = 10010101004
    result = livetoon("styles", "download", "anime", "--endpoint", hub.url)
    assert_clean_failure(
        result, f"serves no model for 'anime' at revision master ({ANIME.model_id('iic')}: HTTP 403 Forbidden; "
        f"{ANIME.model_id('damo')}: listing Code 10010101004: get model info failed, err: unauthorized permission)")
    assert hub.listed_namespaces() == ["iic", "damo"], "a refusal is an answer: not retried"
    assert_only_complete_styles(styles_dir, set())
    assert_no_finished_downloads(cache)


def test_missing_model_and_unusable_files_install_nothing(hub, dirs):
    styles_dir, _ = dirs
    with pytest.raises(LiveToonError, match="serves no model for 'sketch' at revision master .*iic/.*404.*damo/.*404"):
        download_style("sketch", registry(), client(hub.url))
    hub.repos[(ANIME.model_id("iic"), "master")]["cartoon_bg.pb"] = b"\x0a\x03abc not a graph"
    with pytest.raises(WeightsError, match="cartoon_bg.pb"):
        download_style("anime", registry(), client(hub.url))
    assert_only_complete_styles(styles_dir, set())


def test_existing_style_is_refused_before_any_request_unless_replaced(hub, dirs):
    styles_dir, _ = dirs
    download_style("anime", registry(), client(hub.url))
    asked = len(hub.requests)
    with pytest.raises(LiveToonError, match="exists; remove it first or pass --replace"):
        download_style("anime", registry(), client(hub.url))
    assert len(hub.requests) == asked
    download_style("anime", registry(), client(hub.url), replace=True)
    assert_only_complete_styles(styles_dir, {"anime"})


# --- command line ---------------------------------------------------------------------
def test_cli_available_and_download(hub, dirs, capsys, monkeypatch):
    styles_dir, _ = dirs
    assert main(["styles", "available"]) == 0
    listed = capsys.readouterr().out
    for name, official in OFFICIAL_STYLES.items():
        assert re.search(rf"^{re.escape(name)}\s+-\s+{re.escape(official.model_id())} ", listed, re.M)

    assert main(["styles", "download", "anime", "anime", "--endpoint", hub.url]) == 0
    assert capsys.readouterr().out.count("installed style 'anime'") == 1
    asked = len(hub.requests)
    assert main(["styles", "download", "design", "anime", "--endpoint", hub.url]) == 1
    assert "'anime' exists" in capsys.readouterr().err and len(hub.requests) == asked, "refused before downloading"
    hub.repos[(DESIGN.model_id("iic"), "v1.0.0")] = dict(REPO_FILES)
    monkeypatch.setenv("LIVETOON_HUB_ENDPOINT", hub.url)
    assert main(["styles", "download", "design"]) == 0
    assert f"downloading from {hub.url}" in capsys.readouterr().out

    assert main(["styles", "available"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"^anime\s+installed\s", listed, re.M) and re.search(r"^design\s+installed\s", listed, re.M)
    assert_only_complete_styles(styles_dir, {"anime", "design"})


@pytest.mark.parametrize("argv, message", [
    (["styles", "download", "anime", "nope"], "no official style named 'nope'"),
    (["styles", "download", "anime", "--endpoint", "ftp://mirror"], "invalid hub endpoint 'ftp://mirror'"),
    (["styles", "download", "anime", "--timeout", "-3"], "invalid hub timeout '-3'"),
    (["styles", "download", "anime", "--timeout", "nan"], "invalid hub timeout 'nan'"),
])
def test_cli_bad_input_is_one_line(dirs, capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"livetoon: error: {message}") and err.count("\n") == 1


# --- the dialog -------------------------------------------------------------------------
def checked_dialog(qtbot, url: str, name: str):
    from PyQt6.QtCore import Qt

    from app.gui.get_styles_dialog import GetStylesDialog

    dialog = GetStylesDialog(registry(), endpoint=url)
    qtbot.addWidget(dialog)
    items = [dialog.list.item(row) for row in range(dialog.list.count())]
    next(i for i in items if i.data(Qt.ItemDataRole.UserRole) == name).setCheckState(Qt.CheckState.Checked)
    return dialog


def item_texts(dialog) -> dict[str, str]:
    from PyQt6.QtCore import Qt

    items = [dialog.list.item(row) for row in range(dialog.list.count())]
    return {item.data(Qt.ItemDataRole.UserRole): item.text() for item in items}


def test_dialog_gives_each_style_its_size_and_installed_ones_a_thumbnail_on_the_camera_picture(qtbot, hub, dirs):
    from PyQt6.QtCore import Qt

    from app.gui.get_styles_dialog import GetStylesDialog, download_megabytes
    from app.gui.style_thumbnails import THUMBNAIL_PX, face_square
    from faces.finder import FaceDetector
    from tests.clips import photo_bgr
    from tests.qimages import rgb_array

    download_style("anime", registry(), client(hub.url))
    picture = photo_bgr()  # a real portrait stands in for the camera picture
    dialog = GetStylesDialog(registry(), endpoint=hub.url, picture=picture)
    qtbot.addWidget(dialog)
    texts = item_texts(dialog)
    assert round(download_megabytes()) == 12, "two 1,467,075-parameter fp32 networks"
    assert all(texts[name].endswith("\nabout 12 MB") for name in OFFICIAL_STYLES if name != "anime")
    installed_mb = registry().get("anime").path.stat().st_size / 1e6
    assert texts["anime"].endswith(f"\ninstalled, {installed_mb:.0f} MB")

    qtbot.waitUntil(lambda: "anime" in dialog.thumbnails and dialog.thumbnail_thread is None, timeout=60_000)
    anime_row = next(r for r in range(dialog.list.count()) if dialog.list.item(r).data(Qt.ItemDataRole.UserRole) == "anime")
    shown = rgb_array(dialog.list.item(anime_row).icon().pixmap(THUMBNAIL_PX, THUMBNAIL_PX).toImage()).astype(int)
    with FaceDetector(static_image_mode=True) as detector:
        face = detector.detect(picture)[0]
    square = cv2.resize(face_square(picture, face), (THUMBNAIL_PX, THUMBNAIL_PX), interpolation=cv2.INTER_AREA)
    assert shown.shape == (THUMBNAIL_PX, THUMBNAIL_PX, 3) and shown.std() > 10, "a picture, not a blank"
    assert np.abs(shown - square[:, :, ::-1]).mean() > 10, "the style was applied to the camera picture"
    assert set(dialog.thumbnails) == {"anime"}, "only installed styles get a picture"
    dialog.reject()
    assert dialog.thumbnail_thread is None


def test_face_square_holds_the_whole_head():
    from app.gui.style_thumbnails import FACE_MARGIN, face_square
    from faces.finder import FaceDetector
    from tests.clips import photo_bgr

    picture = photo_bgr()
    with FaceDetector(static_image_mode=True) as detector:
        face = detector.detect(picture)[0]
        square = face_square(picture, face)
        inside = detector.detect(square)
    assert square.shape[0] == square.shape[1] == min(picture.shape[:2] + (int(face.size * FACE_MARGIN),))
    assert len(inside) == 1 and inside[0].size > 0.3 * square.shape[0], "the face fills the picture, uncut"
    assert face_square(picture, None).shape[:2] == (min(picture.shape[:2]),) * 2


def test_dialog_downloads_in_the_background_and_announces_the_style(qtbot, hub, dirs):
    styles_dir, _ = dirs
    hub.seconds_per_chunk = 0.02
    hub.listed_sha["cartoon_bg.pb"] = None
    dialog = checked_dialog(qtbot, hub.url, "anime")
    with qtbot.waitSignal(dialog.styleInstalled, timeout=30_000) as installed:
        dialog.download_button.click()
        assert dialog.busy, "the click returns while the download runs"
    assert installed.args == ["anime"]
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=5000)
    assert "lists no SHA-256 for cartoon_bg.pb; its size was checked" in dialog.notes.text()
    assert dialog.status.text() == "Installed 'anime'.", "the note has its own line, kept after the install"
    assert item_texts(dialog)["anime"].startswith("anime: Japanese anime portrait look\ninstalled, ")
    assert_only_complete_styles(styles_dir, {"anime"})


def test_dialog_cancel_and_errors_leave_nothing_behind(qtbot, hub, dirs):
    styles_dir, _ = dirs
    hub.seconds_per_chunk = 0.05
    dialog = checked_dialog(qtbot, hub.url, "anime")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    with qtbot.assertNotEmitted(dialog.styleInstalled):
        dialog.cancel_button.click()
        qtbot.waitUntil(lambda: dialog.worker is None, timeout=10_000)
    assert "cancelled" in dialog.status.text()
    assert_only_complete_styles(styles_dir, set())

    hub.seconds_per_chunk = 0.0
    hub.listed_sha["cartoon_h.pb"] = "0" * 64
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=10_000)
    assert "SHA-256 mismatch" in dialog.status.text()
    assert_only_complete_styles(styles_dir, set())


def test_closing_the_window_stops_the_dialogs_download_and_thumbnail_threads(qtbot, hub, dirs, tmp_path):
    """A running QThread destroyed with its window aborts the whole process at exit."""
    from PyQt6.QtCore import QSettings

    from tests.clips import photo_bgr
    from tests.test_gui import open_window

    styles_dir, _ = dirs
    download_style("anime", registry(), client(hub.url))
    hub.repos[(DESIGN.model_id("iic"), DESIGN.revision)] = dict(REPO_FILES)
    hub.seconds_per_chunk = 0.05
    store = QSettings(str(tmp_path / "livetoon.ini"), QSettings.Format.IniFormat)
    store.setValue("live/style", "toon-lite")  # not a first run: no device measurement
    window = open_window(qtbot, store, None, registry=registry())
    window.preview.original = photo_bgr()  # what a running camera leaves there
    dialog = window.get_more_styles()
    dialog.endpoint = hub.url
    assert dialog.thumbnail_thread is not None, "the installed style's thumbnail is being rendered"
    dialog.download(["design"])
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    worker = dialog.worker
    window.close()
    assert not worker.isRunning() and dialog.thumbnail_thread is None and not dialog.isVisible()
    assert_only_complete_styles(styles_dir, {"anime"})


def test_closing_the_dialog_mid_download_cancels_first(qtbot, hub, dirs):
    styles_dir, _ = dirs
    hub.seconds_per_chunk = 0.05
    dialog = checked_dialog(qtbot, hub.url, "anime")
    dialog.show()
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
    dialog.close()
    assert dialog.isVisible(), "the dialog waits for the download thread to stop"
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert dialog.worker is None
    assert_only_complete_styles(styles_dir, set())


def test_dialog_says_it_waits_for_a_silent_server_then_gives_up(qtbot, dirs, monkeypatch):
    styles_dir, _ = dirs
    monkeypatch.setenv("LIVETOON_HUB_TIMEOUT", "1.5")
    with silent_server() as port:
        dialog = checked_dialog(qtbot, f"http://127.0.0.1:{port}", "anime")
        dialog.download_button.click()
        qtbot.waitUntil(lambda: dialog.notes.text() != "", timeout=5000)
        assert dialog.busy and f"waiting for 127.0.0.1:{port}" in dialog.notes.text()
        qtbot.waitUntil(lambda: dialog.worker is None, timeout=10_000)
    assert "cannot reach" in dialog.status.text() and "no answer for 1.5 s" in dialog.status.text()
    assert dialog.download_button.isEnabled()
    assert_only_complete_styles(styles_dir, set())


def test_unusable_files_whose_hash_matches_leave_the_cache_and_are_named_by_their_model(hub, dirs):
    """Issue 30, 12: bad ``.pb`` files with matching hashes stayed in the cache (every later run
    reused them without asking the server again) and the error named a staging folder already gone."""
    styles_dir, cache = dirs
    hub.repos[(ANIME.model_id("iic"), "master")]["cartoon_bg.pb"] = b"\x0a\x03abc not a graph"
    with pytest.raises(WeightsError) as caught:
        download_style("anime", registry(), client(hub.url))
    message = str(caught.value)
    assert f"{hub.url} {ANIME.model_id('iic')}/cartoon_bg.pb:" in message and "livetoon-hub-" not in message, message
    assert_no_finished_downloads(cache)
    assert_only_complete_styles(styles_dir, set())
    hub.repos[(ANIME.model_id("iic"), "master")]["cartoon_bg.pb"] = REPO_FILES["cartoon_bg.pb"]
    download_style("anime", registry(), client(hub.url))  # the server's fixed file, fetched again
    assert_only_complete_styles(styles_dir, {"anime"})
