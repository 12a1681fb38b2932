"""Put LiveToon into an OBS scene: one input called ``LiveToon``, made or brought up to date.

What the hand recipe of ``docs/obs.md`` does, through obs-websocket:

* an opaque picture (or a transparent background without an NDI plugin in OBS): a Media
  Source (``ffmpeg_source``) on the MPEG-TS stream's URL with the low-latency settings;
  with a keyed background (transparent, or ``color``), plus a Chroma Key filter on the
  key colour, because the stream carries no alpha;
* a transparent background when OBS lists an NDI source kind (the DistroAV plugin): an
  NDI source on LiveToon's NDI name, so the alpha arrives as alpha.

Running it again finds the input by its name and updates it (one input, never two); an
input of another kind under that name is replaced, so switching between stream and NDI
works. The input is added to the scene only where it is not there yet, sized to fit the
canvas.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.obs.client import ObsClient, ObsError, ObsRequestError, RESOURCE_NOT_FOUND
from app.obs.local_process import is_local

SOURCE_NAME = "LiveToon"
KEY_FILTER_NAME = "LiveToon key"
MEDIA_KIND = "ffmpeg_source"
NDI_KIND = "ndi_source"
"""DistroAV's (formerly obs-ndi's) NDI receiver."""
KEY_FILTER_KIND = "chroma_key_filter_v2"
FIT_TO_CANVAS = "OBS_BOUNDS_SCALE_INNER"


@dataclass(frozen=True)
class Target:
    """What LiveToon sends: the stream's URL, the NDI name, and the key colour (BGR) when the
    background is keyed (``None`` for an opaque picture)."""

    stream_url: str
    ndi_name: str
    key_colour: tuple[int, int, int] | None = None
    transparent: bool = False


@dataclass(frozen=True)
class Added:
    """What ``add_to_obs`` did, for the one line the user reads."""

    scene: str
    kind: str
    created: bool
    keyed: bool
    obs_version: str

    def describe(self) -> str:
        what = "NDI source" if self.kind == NDI_KIND else "Media Source"
        verb = "added" if self.created else "updated"
        key = " with a Chroma Key filter" if self.keyed else ""
        return f"OBS {self.obs_version}: {verb} {what} {SOURCE_NAME!r}{key} in scene {self.scene!r}"


def listen_url(stream_url: str) -> str:
    """Where OBS listens for the stream: the same address when LiveToon sends to this machine's
    loopback, else every address of OBS's machine (it can only bind its own)."""
    parts = urlsplit(stream_url)
    if parts.hostname and is_local(parts.hostname):
        return f"udp://{parts.hostname}:{parts.port}"
    return f"udp://0.0.0.0:{parts.port}"


def media_settings(stream_url: str) -> dict[str, Any]:
    """``docs/obs.md``'s Media Source table: a network input, MPEG-TS, no buffering, a quick
    reconnect, and kept decoding while hidden so switching to it shows the live picture at once."""
    return {"is_local_file": False, "input": listen_url(stream_url), "input_format": "mpegts", "buffering_mb": 0,
            "reconnect_delay_sec": 1, "restart_on_activate": False, "close_when_inactive": False,
            "clear_on_media_end": False}


def ndi_source_name(ndi_name: str) -> str:
    """NDI lists a sender as ``MACHINE (name)``, the machine's name in capitals."""
    return f"{socket.gethostname().upper()} ({ndi_name})"


def ndi_settings(ndi_name: str) -> dict[str, Any]:
    """DistroAV's NDI source: our sender, at the highest bandwidth (the one that carries alpha)."""
    return {"ndi_source_name": ndi_source_name(ndi_name), "ndi_bw_mode": 0}


def key_filter_settings(colour: tuple[int, int, int]) -> dict[str, Any]:
    """OBS's Chroma Key on our key colour. OBS stores a colour as 0xAABBGGRR; pure green has its
    own preset, any other colour is a custom one."""
    blue, green, red = colour
    if colour == (0, 255, 0):
        return {"key_color_type": "green"}
    return {"key_color_type": "custom", "key_color": (blue << 16) | (green << 8) | red}


def choose_kind(input_kinds: list[str], target: Target) -> str:
    """NDI only for a transparent background and only when OBS has DistroAV; the stream otherwise."""
    if target.transparent and NDI_KIND in input_kinds:
        return NDI_KIND
    return MEDIA_KIND


def resolve_scene(client: ObsClient, scene: str | None) -> str:
    """The named scene (which must exist), else the scene on air."""
    if scene is None:
        current = client.request("GetCurrentProgramScene")
        return str(current.get("currentProgramSceneName") or current.get("sceneName"))
    names = [item["sceneName"] for item in client.request("GetSceneList")["scenes"]]
    if scene not in names:
        raise ObsError(f"OBS has no scene {scene!r}: choose one of {', '.join(repr(n) for n in reversed(names))} "
                       "(or leave out --scene for the current one)")
    return scene


def _existing_kind(client: ObsClient) -> str | None:
    for item in client.request("GetInputList")["inputs"]:
        if item["inputName"] == SOURCE_NAME:
            return str(item.get("unversionedInputKind") or item["inputKind"])
    return None


def _ensure_in_scene(client: ObsClient, scene: str) -> None:
    """A scene item for the input, fitted to the canvas, unless the scene already shows it."""
    try:
        client.request("GetSceneItemId", {"sceneName": scene, "sourceName": SOURCE_NAME})
        return
    except ObsRequestError as exc:
        if exc.code != RESOURCE_NOT_FOUND:
            raise
    item = client.request("CreateSceneItem", {"sceneName": scene, "sourceName": SOURCE_NAME})["sceneItemId"]
    _fit(client, scene, item)


def _fit(client: ObsClient, scene: str, item: int) -> None:
    video = client.request("GetVideoSettings")
    transform = {"boundsType": FIT_TO_CANVAS, "boundsWidth": float(video["baseWidth"]),
                 "boundsHeight": float(video["baseHeight"]), "positionX": 0.0, "positionY": 0.0}
    client.request("SetSceneItemTransform", {"sceneName": scene, "sceneItemId": item, "sceneItemTransform": transform})


def _set_key_filter(client: ObsClient, colour: tuple[int, int, int] | None) -> None:
    """The Chroma Key filter present on ``colour``, or absent when the picture is opaque."""
    filters = client.request("GetSourceFilterList", {"sourceName": SOURCE_NAME})["filters"]
    names = {item["filterName"] for item in filters}
    present = KEY_FILTER_NAME in names
    if colour is None:
        if present:
            client.request("RemoveSourceFilter", {"sourceName": SOURCE_NAME, "filterName": KEY_FILTER_NAME})
        return
    settings = key_filter_settings(colour)
    if present:
        client.request("SetSourceFilterSettings", {"sourceName": SOURCE_NAME, "filterName": KEY_FILTER_NAME,
                                                   "filterSettings": settings, "overlay": True})
    else:
        client.request("CreateSourceFilter", {"sourceName": SOURCE_NAME, "filterName": KEY_FILTER_NAME,
                                              "filterKind": KEY_FILTER_KIND, "filterSettings": settings})


def add_to_obs(client: ObsClient, target: Target, scene: str | None = None) -> Added:
    """Create or update the ``LiveToon`` input in ``scene`` (default: the current one)."""
    scene_name = resolve_scene(client, scene)
    kind = choose_kind(client.request("GetInputKindList", {"unversioned": True})["inputKinds"], target)
    settings = ndi_settings(target.ndi_name) if kind == NDI_KIND else media_settings(target.stream_url)
    existing = _existing_kind(client)
    if existing is not None and existing != kind:
        client.request("RemoveInput", {"inputName": SOURCE_NAME})
        existing = None
    if existing is None:
        item = client.request("CreateInput", {"sceneName": scene_name, "inputName": SOURCE_NAME, "inputKind": kind,
                                              "inputSettings": settings, "sceneItemEnabled": True})["sceneItemId"]
        _fit(client, scene_name, item)
    else:
        client.request("SetInputSettings", {"inputName": SOURCE_NAME, "inputSettings": settings, "overlay": True})
        _ensure_in_scene(client, scene_name)
    keyed = kind == MEDIA_KIND and target.key_colour is not None
    _set_key_filter(client, target.key_colour if keyed else None)
    return Added(scene_name, kind, existing is None, keyed, client.obs_version)
