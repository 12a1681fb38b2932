"""The window's side panel, one file per concern: source, look, background, processing, outputs.

Each panel is a small widget bound to its settings object: ``load(...)`` puts the
object's values into the controls without echoing them back, and the panel reports
what the user changes through its signals (``changed`` with the fields that moved,
or a signal naming the action). The window lays the panels out, applies what they
report, and keeps hotkeys and closing; every key they remember goes through
``settings_store``. A new concern (a Background panel on ``LiveSettings``) is one more
file here, one entry in the window's column and one line in ``_load_settings``.
"""
