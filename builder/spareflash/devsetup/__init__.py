"""Machine set-up helpers called by `./dev setup` (idempotent, offline)."""
