"""The control socket: how the command line and the terminal UI talk to a
running node. A Unix socket in the data directory, owner-only."""

SOCKET_NAME = "node.sock"
