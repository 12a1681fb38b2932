"""I/O, orchestration and front ends (CLI, Qt window); knows nothing of how stylization works inside."""
