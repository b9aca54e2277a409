"""The terminal UI: the everyday front end, talking to the household's node
through its control socket (never to libp2p or the store directly)."""
