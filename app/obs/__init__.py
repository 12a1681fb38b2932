"""OBS Studio through obs-websocket 5: our client (``client``) and the LiveToon source it sets up (``add_source``)."""
