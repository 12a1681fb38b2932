"""DCT-Net portrait stylization: network, weights, styles, faces, alignment, engine. No Qt, no time."""
