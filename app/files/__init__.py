"""Turning video files into cartoons: reading, writing, still images, and the keyframe variant of the file pipeline."""
