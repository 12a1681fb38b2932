"""Shared utilities every layer may use: the one error type, file writes that never leave a half file, downloads, progress, the native-log filter."""
