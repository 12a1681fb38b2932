"""Pictures and videos read from files: below the chain, which reads its backgrounds here,
as ``convert``, the live file source and the window's file choosers do."""
