"""Finding and following the main face: MediaPipe FaceMesh reduced to five points, and the tracker that keeps one face steady across frames."""
