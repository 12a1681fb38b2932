"""Temporal stability for any frame sequence: optical flow, warping, blending, metrics."""
