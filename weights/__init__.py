"""Built-in styles shipped with LiveToon (trained by the project itself; see MODEL_CARD.md)."""
