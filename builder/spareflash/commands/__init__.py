"""One module per CLI sub-command; each has `register(subparsers)` and sets `func` on its parser."""
