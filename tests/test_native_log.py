"""MediaPipe's native start-up chatter is dropped from stderr; everything else passes."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = r"""
import os, sys, time
from dctnet.native_log import NativeStderrFilter
with NativeStderrFilter():
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"W0000 00:00:1795566504.5 6230 inference_feedback_manager.cc:114] Feedback manager\n")
    print("a real warning", file=sys.stderr)
    sys.stderr.write("\rprogress 50%"); sys.stderr.flush()
    time.sleep(0.3)
    sys.stderr.write("\rprogress 100%\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
print("after", file=sys.stderr)
"""


def test_filter_drops_chatter_only():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "XNNPACK" not in result.stderr and "Feedback manager" not in result.stderr
    assert "InitializeLog" not in result.stderr
    assert "a real warning\n" in result.stderr and "\rprogress 50%" in result.stderr
    assert "\rprogress 100%\n" in result.stderr and result.stderr.endswith("after\n")
