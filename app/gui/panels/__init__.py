"""The window's side panel, one file per concern: source, look, processing, outputs.

Each panel is a small widget bound to its settings object: ``load(...)`` puts the
object's values into the controls without echoing them back, and the panel reports
what the user changes through its signals (``changed`` with the fields that moved,
or a signal naming the action). The window lays the panels out, applies and persists
what they report, and keeps hotkeys and closing. A new concern is one more file here
plus one line in the window's layout.
"""
