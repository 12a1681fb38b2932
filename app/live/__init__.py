"""The live session: sources (cameras, looped files), the live pipeline, sinks (virtual camera, stream, recording)."""
