"""A private virtual LAN for drill nodes: one network namespace per node,
joined by a bridge that can be split into islands.

Theory of operation. Nothing here touches the machine's own interfaces:

* A **switch keeper** (``unshare --user --map-root-user --net``) owns a new
  user namespace and a new network namespace. Inside the user namespace the
  drill is root, so it may create bridges and veth pairs; every ``ip``
  command runs there through ``nsenter -t SWITCH -U -n``. The switch
  namespace holds the common bridge ``br0``.
* A **node keeper** per node (entered into the switch's user namespace, then
  ``unshare --net``) owns that node's network namespace: ``lo`` and one veth
  end with the address ``10.77.0.(i+1)/24``. The other end, ``hI``, is a port
  of a bridge in the switch namespace. The namespace outlives the node
  process, as a house's wiring outlives a power cut.
* :meth:`VirtualLan.launcher` is the argv prefix that runs a command inside
  node i's namespace (``nsenter -t KEEPER -U -n --preserve-credentials --``).
  Unix sockets at filesystem paths are not namespaced, so a node's control
  socket is reachable from outside as usual; the node runs as the mapped
  root, which is the drill's own user outside.
* :meth:`VirtualLan.cut` gives each island its own bridge and moves every
  node's switch-side port to its island's bridge: frames to other islands go
  nowhere, with no reset and no ICMP, like a real outage.
  :meth:`VirtualLan.repair` moves every port back to ``br0``.
* Keepers block on reading a pipe held by this process (``head -c1``). They
  exit when :meth:`VirtualLan.close` closes it and kills their process groups,
  and also when this process dies without cleaning up: the pipe closes with
  it. A namespace vanishes with its last process.

    with VirtualLan(4) as lan:
        lan.cut([[0, 1], [2, 3]])
        subprocess.run([*lan.launcher(0), "python", "-c", "..."])
        lan.repair()
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

#: The LAN's prefix: a private range unlikely to clash with anything, and
#: invisible outside the switch namespace anyway.
SUBNET = "10.77.0"
#: Hosts 1..253 of a /24 (one address per node).
MAX_NODES = 253
#: Time allowed for a keeper to own its namespaces (normally a few ms).
KEEPER_START_S = 5.0
#: Time allowed for one ``ip`` command (normally a few ms).
COMMAND_TIMEOUT_S = 10.0
TOOLS = ("ip", "nsenter", "unshare", "head")
COMMON_BRIDGE = "br0"


class LanUnavailable(RuntimeError):
    """The machine refused a step of building the LAN. ``step`` is the
    command that failed, ``detail`` what it said."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"virtual LAN unavailable: {step}: {detail}")
        self.step = step
        self.detail = detail


def _own_namespace(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


class _Keeper:
    """A ``head -c1`` process that holds namespaces until its pipe closes."""

    def __init__(self, argv: list[str], expect_new: tuple[str, ...]) -> None:
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.pid = self.process.pid
        mine = {kind: _own_namespace(os.getpid(), kind) for kind in expect_new}
        deadline = time.monotonic() + KEEPER_START_S
        # The keeper execs into ``head`` once its namespaces exist; until then
        # /proc shows ours.
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace").strip() if self.process.stderr else ""
                raise LanUnavailable(" ".join(argv), error or f"exited with {self.process.returncode}")
            try:
                ready = all(_own_namespace(self.pid, k) != mine[k] for k in expect_new)
                ready = ready and Path(f"/proc/{self.pid}/comm").read_text().strip() == "head"
            except OSError:
                ready = False
            if ready:
                return
            time.sleep(0.005)
        self.close()
        raise LanUnavailable(" ".join(argv), f"no namespaces within {KEEPER_START_S} s")

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(COMMAND_TIMEOUT_S)
        if self.process.stderr:
            self.process.stderr.close()


class VirtualLan:
    """``size`` network namespaces on one bridge. Use as a context manager,
    or call :meth:`close`; raises :class:`LanUnavailable` from the constructor
    when the machine does not allow it (nothing is left behind then)."""

    def __init__(self, size: int) -> None:
        if not 0 < size <= MAX_NODES:
            raise ValueError(f"a virtual LAN holds 1..{MAX_NODES} nodes, not {size}")
        self.size = size
        self.islands: list[list[int]] = [list(range(size))]
        self._island_bridges = 0
        self._keepers: list[_Keeper] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise LanUnavailable("which", f"missing {', '.join(missing)}")
        self.switch = _Keeper(["unshare", "--user", "--map-root-user", "--net", "head", "-c1"], ("user", "net"))
        self._keepers.append(self.switch)
        self.nodes: list[_Keeper] = []
        for _ in range(self.size):
            keeper = _Keeper([*self._in_user_namespace(), "unshare", "--net", "head", "-c1"], ("net",))
            self._keepers.append(keeper)
            self.nodes.append(keeper)
        script = [f"link add {COMMON_BRIDGE} type bridge", f"link set {COMMON_BRIDGE} up"]
        for i, keeper in enumerate(self.nodes):
            script += [
                f"link add h{i} type veth peer name n{i}",
                f"link set n{i} netns {keeper.pid}",
                f"link set h{i} master {COMMON_BRIDGE}",
                f"link set h{i} up",
            ]
        self._ip(self.switch.pid, script)
        for i, keeper in enumerate(self.nodes):
            self._ip(keeper.pid, [
                "link set lo up",
                f"addr add {self.address(i)}/24 dev n{i}",
                f"link set n{i} up",
            ])

    def _in_user_namespace(self) -> list[str]:
        return ["nsenter", "-t", str(self.switch.pid), "-U", "--preserve-credentials"]

    def _ip(self, pid: int, script: list[str]) -> None:
        """Run ``ip`` commands in the namespaces of keeper ``pid``; raises
        LanUnavailable with what ``ip`` said."""
        argv = ["nsenter", "-t", str(pid), "-U", "-n", "--preserve-credentials", "--", "ip", "-batch", "-"]
        done = subprocess.run(argv, input="\n".join(script) + "\n", capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
        if done.returncode != 0:
            raise LanUnavailable(f"ip in namespace of {pid}", (done.stderr or done.stdout).strip())

    def address(self, i: int) -> str:
        """Node i's IPv4 address on the LAN."""
        return f"{SUBNET}.{i + 1}"

    def launcher(self, i: int) -> list[str]:
        """The argv prefix that runs a command inside node i's namespace."""
        return ["nsenter", "-t", str(self.nodes[i].pid), "-U", "-n", "--preserve-credentials", "--"]

    def cut(self, islands: list[list[int]]) -> None:
        """Split the LAN: nodes reach only the nodes of their own island.
        ``islands`` lists node numbers; nodes in no island are alone.
        Raises LanUnavailable if ``ip`` refuses."""
        grouped = {n for island in islands for n in island}
        islands = [sorted(island) for island in islands] + [[n] for n in range(self.size) if n not in grouped]
        script = []
        for k, island in enumerate(islands, 1):
            script += [f"link add br{k} type bridge", f"link set br{k} up"]
            script += [f"link set h{n} master br{k}" for n in island]
        self.repair()
        self._ip(self.switch.pid, script)
        self.islands = islands
        self._island_bridges = len(islands)

    def repair(self) -> None:
        """Join every node to the common bridge again and drop island bridges."""
        if not self._island_bridges:
            return
        script = [f"link set h{n} master {COMMON_BRIDGE}" for n in range(self.size)]
        script += [f"link del br{k}" for k in range(1, self._island_bridges + 1)]
        self._ip(self.switch.pid, script)
        self.islands = [list(range(self.size))]
        self._island_bridges = 0

    def close(self) -> None:
        """Kill every keeper; the namespaces, bridges and veths vanish with them
        once no other process (a node still running) is inside."""
        for keeper in reversed(self._keepers):
            keeper.close()
        self._keepers.clear()

    def __enter__(self) -> "VirtualLan":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def unavailable_reason() -> str | None:
    """Why this machine offers no virtual LAN, or None if it does. Builds a
    two-node LAN once per process and tears it down; the answer is cached."""
    try:
        with VirtualLan(2) as lan:
            lan.cut([[0], [1]])
            lan.repair()
    except (LanUnavailable, OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None


def available() -> bool:
    """True if :class:`VirtualLan` works here (tried once, cached)."""
    return unavailable_reason() is None
