"""A small obs-websocket 5 client (OBS Studio 28 and later), written over ``websocket-client``.

The protocol (https://github.com/obsproject/obs-websocket/blob/master/docs/generated/protocol.md)
is four messages: the server's Hello (op 0, with a SHA-256 challenge when a password is
set), our Identify (op 1, with the answer and the events we want), Identified (op 2),
then Request (op 6) / RequestResponse (op 7) pairs and Events (op 5). ``obsws-python``
speaks it too but is GPL-3.0, which does not fit this Apache-2.0 project, hence our own.

One reader thread owns the socket's receiving side: it matches responses to their
requests by id and hands events to ``on_event``, so a caller can wait for a response
while events keep arriving. Every failure a user can fix is an :class:`ObsError` whose
message is one line saying what to do.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

from common.errors import LiveToonError

from app.obs.local_process import is_local, obs_process_running

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4455
RPC_VERSION = 1
FIRST_VERSION = 28
"""OBS 28 is the first release with obs-websocket 5 built in."""
SERVER_SETTINGS = "Tools > WebSocket Server Settings"
PASSWORD_FIX = (f"give the one in OBS's {SERVER_SETTINGS} > Show Connect Info "
                "(--password, or the LIVETOON_OBS_PASSWORD environment variable)")
AUTH_FAILED = 4009  # WebSocketCloseCode::AuthenticationFailed
RESOURCE_NOT_FOUND = 600  # RequestStatus::ResourceNotFound

OP_HELLO, OP_IDENTIFY, OP_IDENTIFIED, OP_EVENT, OP_REQUEST, OP_RESPONSE = 0, 1, 2, 5, 6, 7

EventHandler = Callable[[str, dict[str, Any]], None]


class ObsError(LiveToonError):
    """OBS cannot be reached or refused what we asked, with the fix in one line."""


class ObsRequestError(ObsError):
    """A request OBS answered with a failure status; ``code`` is obs-websocket's RequestStatus."""

    def __init__(self, request: str, code: int, comment: str) -> None:
        super().__init__(f"OBS refused {request}: {comment or f'status {code}'}")
        self.code = code


def auth_answer(password: str, salt: str, challenge: str) -> str:
    """The Identify ``authentication`` string: base64(sha256(base64(sha256(password + salt)) + challenge))."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest()).decode()
    return base64.b64encode(hashlib.sha256((secret + challenge).encode()).digest()).decode()


def major_version(text: str) -> int:
    """28 of "28.1.2"; 0 where the text has no number (an unknown build counts as too old)."""
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def check_host(host: str) -> str:
    """A host name or address, without a scheme, path or spaces (what ``ws://HOST:PORT`` needs)."""
    if not host or any(c.isspace() or c in "/?#@[]" for c in host):
        raise LiveToonError(f"OBS host: expected a name or address such as 127.0.0.1, got {host!r}")
    return host


def parse_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` -> (host, port); the port defaults to obs-websocket's 4455."""
    host, _, port = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise LiveToonError(f"OBS address: expected HOST:PORT such as 127.0.0.1:4455, got {text.strip()!r}")
    return check_host(host or DEFAULT_HOST), int(port) if port else DEFAULT_PORT


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None


class ObsClient:
    """One identified connection to obs-websocket; use as a context manager.

    ``events`` is obs-websocket's EventSubscription bit mask (0: none; ``ALL_EVENTS`` the
    non-high-volume ones); ``on_event`` and ``on_close`` (OBS quit, or ``close``) are called
    on the reader thread. Failures to connect are :class:`ObsError` lines naming the fix.
    """

    ALL_EVENTS = 0x7FF

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, password: str | None = None,
                 events: int = 0, on_event: EventHandler | None = None, timeout: float = 5.0,
                 on_close: Callable[[], None] | None = None) -> None:
        self.address = f"ws://{host}:{port}"
        self.host, self.timeout, self.on_event, self.on_close = host, timeout, on_event, on_close
        self.obs_version = self.websocket_version = ""
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._socket = self._open()
        try:
            self._identify(password, events)
            self._reader = threading.Thread(target=self._read_loop, name="obs-websocket", daemon=True)
            self._reader.start()
            self._check_version()
        except BaseException:
            self.close()
            raise

    def _open(self) -> websocket.WebSocket:
        try:
            return websocket.create_connection(self.address, timeout=self.timeout, enable_multithread=True)
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            reason = exc.__class__.__name__
        if is_local(self.host) and obs_process_running():
            raise ObsError(f"OBS is running but nothing answers at {self.address}: in OBS, {SERVER_SETTINGS}, "
                           "tick 'Enable WebSocket server' and check its port (or give --port)")
        if is_local(self.host):
            raise ObsError(f"OBS is not running (nothing answers at {self.address}): start OBS {FIRST_VERSION} or "
                           f"newer, with {SERVER_SETTINGS} > 'Enable WebSocket server' ticked")
        raise ObsError(f"nothing answers at {self.address} ({reason}): start OBS {FIRST_VERSION} or newer there, "
                       f"tick {SERVER_SETTINGS} > 'Enable WebSocket server', and let its port through the firewall")

    def _receive_hello(self) -> dict[str, Any]:
        """The server's first message; obs-websocket 4 (OBS 27 and older) sends none."""
        try:
            return json.loads(self._socket.recv())
        except websocket.WebSocketTimeoutException:
            raise ObsError(f"{self.address} sent no obs-websocket 5 greeting: OBS older than {FIRST_VERSION} (its "
                           f"obs-websocket 4 speaks another protocol); update OBS to {FIRST_VERSION} or newer"
                           ) from None
        except (websocket.WebSocketException, ValueError, OSError) as exc:
            raise ObsError(f"{self.address} is not obs-websocket 5 ({exc.__class__.__name__})") from None

    def _identify(self, password: str | None, events: int) -> None:
        hello = self._receive_hello()
        if hello.get("op") != OP_HELLO:
            raise ObsError(f"{self.address} is not obs-websocket 5 (first message was op {hello.get('op')})")
        hello_data = hello.get("d", {})
        self.websocket_version = str(hello_data.get("obsWebSocketVersion", ""))
        identify: dict[str, Any] = {"rpcVersion": RPC_VERSION, "eventSubscriptions": events}
        challenge = hello_data.get("authentication")
        if challenge:
            if not password:
                raise ObsError(f"OBS asks for a password at {self.address}: {PASSWORD_FIX}")
            identify["authentication"] = auth_answer(password, challenge["salt"], challenge["challenge"])
        self._socket.send(json.dumps({"op": OP_IDENTIFY, "d": identify}))
        answer = self._receive_identified()
        if answer.get("op") != OP_IDENTIFIED:
            raise ObsError(f"{self.address} did not accept LiveToon's Identify (op {answer.get('op')})")

    def _receive_identified(self) -> dict[str, Any]:
        try:
            opcode, payload = self._socket.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            opcode, payload = websocket.ABNF.OPCODE_CLOSE, b""
        except websocket.WebSocketTimeoutException:
            raise ObsError(f"{self.address} did not answer LiveToon's Identify within {self.timeout:g} s") from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            if code == AUTH_FAILED:
                raise ObsError(f"OBS refused the password at {self.address}: {PASSWORD_FIX}")
            reason = payload[2:].decode(errors="replace")
            raise ObsError(f"OBS closed the connection at {self.address}: {reason or f'close code {code}'}")
        return json.loads(payload)

    def _check_version(self) -> None:
        version = self.request("GetVersion")
        self.obs_version = str(version.get("obsVersion", ""))
        if major_version(self.obs_version) < FIRST_VERSION:
            raise ObsError(f"OBS {self.obs_version or '(unknown version)'} is older than {FIRST_VERSION}: update OBS "
                           f"to {FIRST_VERSION} or newer")

    def _read_loop(self) -> None:
        """Responses to their waiting requests, events to ``on_event``, until the socket closes."""
        self._socket.settimeout(None)
        try:
            while True:
                message = json.loads(self._socket.recv())
                data = message.get("d", {})
                if message.get("op") == OP_RESPONSE:
                    with self._lock:
                        pending = self._pending.pop(data.get("requestId", ""), None)
                    if pending is not None:
                        pending.answer = data
                        pending.done.set()
                elif message.get("op") == OP_EVENT and self.on_event is not None:
                    self.on_event(data.get("eventType", ""), data.get("eventData", {}))
        except (websocket.WebSocketException, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._closed = True
                waiting, self._pending = list(self._pending.values()), {}
            for pending in waiting:
                pending.done.set()
            if self.on_close is not None:
                self.on_close()

    def request(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and wait for its response's ``responseData`` (``{}`` when none)."""
        request_id = str(next(self._ids))
        pending = _Pending()
        with self._lock:
            if self._closed:
                raise ObsError(f"the connection to OBS at {self.address} is closed (did OBS quit?)")
            self._pending[request_id] = pending
        body: dict[str, Any] = {"requestType": kind, "requestId": request_id}
        if data is not None:
            body["requestData"] = data
        try:
            self._socket.send(json.dumps({"op": OP_REQUEST, "d": body}))
        except (websocket.WebSocketException, OSError):
            pass  # the reader sees the closed socket and wakes us below
        if not pending.done.wait(self.timeout) or pending.answer is None:
            with self._lock:
                self._pending.pop(request_id, None)
            raise ObsError(f"OBS at {self.address} did not answer {kind} within {self.timeout:g} s (did OBS quit?)")
        status = pending.answer.get("requestStatus", {})
        if not status.get("result"):
            raise ObsRequestError(kind, int(status.get("code", 0)), str(status.get("comment", "")))
        return pending.answer.get("responseData") or {}

    def close(self) -> None:
        self._socket.close(timeout=1)
        reader = getattr(self, "_reader", None)
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2)

    def __enter__(self) -> ObsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
