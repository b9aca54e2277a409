"""Real ``meshpantry node`` processes, each with its own data directory,
driven through their control sockets. They listen on loopback unless told
otherwise (a drill's virtual LAN gives each its own address and a launcher
prefix that starts it inside its network namespace, :mod:`simulations.netns`)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable

from cli.main import main as cli_main
from meshpantry.control.client import ControlClient, NodeUnavailable

#: Starting a node process (Python + libp2p import) takes ~1.5 s on this kind
#: of machine; allow for a loaded CI box: twenty nodes started at once on two
#: cores at a load average of 13 were not all answering after 30 s.
START_TIMEOUT_S = 90.0


#: Where listen ports are drawn when the kernel's ephemeral range is not
#: readable: below Linux's default range (32768-60999).
FALLBACK_PORTS = (20_000, 32_767)

_port_rng = random.Random(os.getpid() ^ time.time_ns())


def _listen_ports() -> tuple[int, int]:
    """A range of ports the kernel never picks for an outgoing connection:
    those below its ephemeral range, from 10000 up."""
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return FALLBACK_PORTS
    return (10_000, first - 1) if first > 11_000 else FALLBACK_PORTS


class PortTaken(RuntimeError):
    """A node exited because its listen port was taken before it could bind it."""


def free_port() -> int:
    """A loopback TCP port free now, for a node started soon.

    Drawn outside the kernel's ephemeral range: a port the kernel handed out
    (as :func:`socket.bind` to port 0 does) is from the range it also picks
    outgoing connections' ports from, and twenty nodes dialling each other
    as they start took a later node's port before it could listen (it then
    exits with "port already in use")."""
    low, high = _listen_ports()
    for _ in range(100):
        port = _port_rng.randint(low, high)
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(data_dir: Path, *argv: str) -> int:
    return cli_main(["--data-dir", str(data_dir), *argv])


class NodeProcess:
    """One node process. ``host`` is the address it listens on; ``launcher``
    an argv prefix the command runs under (e.g. ``nsenter ... --``)."""

    def __init__(self, data_dir: Path, port: int, peers: list[str] | None = None, sync_interval: float = 5.0,
                 host: str = "127.0.0.1", launcher: list[str] | None = None) -> None:
        self.sync_interval = sync_interval
        self.data_dir = data_dir
        self.port = port
        self.host = host
        self.launcher = list(launcher or [])
        self.peers = list(peers or [])
        self.process: subprocess.Popen | None = None
        self.peer_id: str | None = None

    @property
    def address(self) -> str:
        if self.peer_id is None:
            self.peer_id = peer_id_of(self.data_dir)
        return f"/ip4/{self.host}/tcp/{self.port}/p2p/{self.peer_id}"

    def start(self, extra: list[str] | None = None) -> None:
        # Loopback mode, except for a node inside the drill's own network
        # namespace: there the "LAN" is the drill's private bridge, and the
        # namespace has no route off this machine (simulations/netns.py).
        network = "lan" if self.launcher else "loopback"
        argv = [*self.launcher, sys.executable, "-m", "cli.main", "--data-dir", str(self.data_dir), "node",
                "--network", network, "--listen", f"{self.host}:{self.port}", "--no-mdns",
                "--sync-interval", str(self.sync_interval)]
        for peer in self.peers:
            argv += ["--peer", peer]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "MESHPANTRY_NETWORK": network}
        self.log = open(self.data_dir / "node-test.log", "ab")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env,
                                        cwd=Path(__file__).resolve().parents[2])

    def wait_ready(self) -> dict:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                said = self.log_text()
                failed = PortTaken if f"TCP port {self.port} on {self.host} is already in use" in said else RuntimeError
                raise failed(f"node exited with {self.process.returncode}: {said}")
            try:
                status = self.call("status")
            except (NodeUnavailable, OSError):
                time.sleep(0.1)
                continue
            if status.get("peer_id"):
                self.peer_id = status["peer_id"]
                return status
            time.sleep(0.1)
        raise TimeoutError(f"node in {self.data_dir} not ready: {self.log_text()}")

    def log_text(self) -> str:
        try:
            return (self.data_dir / "node-test.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def call(self, op: str, **args: Any) -> Any:
        with ControlClient.connect(self.data_dir) as client:
            return client.call(op, **args)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the node process has used so far, with its
        worker processes (live ones, and those it has waited for)."""
        assert self.process is not None
        return _tree_ticks(self.process.pid) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """Power cut: SIGKILL, no chance to clean up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                return -9
        return self.process.returncode if self.process else 0


def _tree_ticks(pid: int) -> int:
    """Clock ticks of CPU used by ``pid``, its reaped children and its live
    descendants (0 for a process that is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        ticks += sum(_tree_ticks(int(child)) for child in children)
    return ticks


def peer_id_of(data_dir: Path) -> str:
    """The libp2p peer id of a data directory's device key (no node needed)."""
    from meshpantry.keys import read_key
    from meshpantry.node.host import peer_id_from_author

    return str(peer_id_from_author(read_key(data_dir).public))


def make_neighbourhood(root: Path, count: int) -> list[Path]:
    """Data directories of ``count`` households: the first founds, the others join."""
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):
        return _make_neighbourhood(root, count)


def _make_neighbourhood(root: Path, count: int) -> list[Path]:
    dirs = [root / f"h{i}" for i in range(count)]
    assert cli(dirs[0], "init", "--household", "House 0") == 0
    assert cli(dirs[0], "neighbourhood", "create", "Test Street") == 0
    for i, d in enumerate(dirs[1:], 1):
        import io
        from contextlib import redirect_stdout
        import json

        buffer = io.StringIO()
        with redirect_stdout(buffer):
            assert cli(dirs[0], "--json", "invite", "create") == 0
        code = json.loads(buffer.getvalue())["code"]
        assert cli(d, "init", "--household", f"House {i}") == 0
        assert cli(d, "join", code) == 0
    return dirs


def start_mesh(
    dirs: list[Path], links: Callable[[int], list[int]] | None = None, *, sync_interval: float = 5.0,
    hosts: list[str] | None = None, launchers: list[list[str]] | None = None,
) -> list[NodeProcess]:
    """Start one node per directory, all at once, and wait until each answers.

    ``links(i)`` names the nodes node i dials (default: node 0 and node i-1).
    ``hosts[i]`` is node i's listen address (default 127.0.0.1) and
    ``launchers[i]`` the argv prefix it starts under (default none).
    Raises RuntimeError or TimeoutError if a node does not come up. A port
    found taken when a node started (exit 5) starts the whole mesh again on
    new ports, up to :data:`PORT_RETRIES` times: the ports are free when
    drawn, and another process may bind one before its node does."""
    hosts = hosts or ["127.0.0.1"] * len(dirs)
    launchers = launchers or [[] for _ in dirs]
    links = links or (lambda i: sorted({0, i - 1}) if i else [])
    attempt = 0
    while True:
        nodes = [NodeProcess(d, free_port(), sync_interval=sync_interval, host=h, launcher=l)
                 for d, h, l in zip(dirs, hosts, launchers)]
        try:
            for i, node in enumerate(nodes):
                node.peers = [nodes[j].address for j in links(i) if j != i]
                node.start()
            for node in nodes:
                node.wait_ready()
            return nodes
        except BaseException as error:
            for node in nodes:
                node.stop()
            if not isinstance(error, PortTaken) or attempt == PORT_RETRIES:
                raise
            attempt += 1


#: Times :func:`start_mesh` starts a mesh again after a port was taken.
PORT_RETRIES = 2


def eventually(check: Callable[[], Any], timeout: float, message: str = "", every: float = 0.1) -> Any:
    """Poll ``check`` every ``every`` s until it returns a truthy value; fail
    after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (NodeUnavailable, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {message} (last: {last!r})")
