"""The person matte and compositing: usable on any frame sequence, without Qt or a camera."""
