"""Pure, vectorised numpy models: arrays over meters in, arrays over meters out."""
