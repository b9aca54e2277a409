"""How long each thing a sync session waits for may take, on one clock.

Every time in the sync core is a reading of one **monotonic** clock in
milliseconds, passed in as ``now`` (trio's clock in the node, the virtual
clock in the simulator). Wall-clock time, which bounds a record's advisory
time, is a separate input of the store's ingest and never mixes with these.

Three things can stall, each with its own deadline and its own outcome:

* **Opening the stream** (the host, before the session speaks): past
  :data:`OPEN_STREAM_MS` the host gives up; the session never started, so
  nothing is sent, and the peer's connection is suspect.
* **The peer's next bytes** (:data:`PEER_SILENCE_MS` after the last bytes
  arrived, or after the session started): the session fails as
  :class:`~.errors.Stalled` and tells the peer ABORT code 5 (timeout). A
  peer that stops reading is caught by the same deadline: it sends no ACK.
* **A frame that has begun** (:data:`FRAME_MS` after its first byte, until
  its last): a peer trickling a frame a byte at a time, each byte just
  before the silence deadline, fails as :class:`~.errors.FrameTooSlow`
  (ABORT code 5) long before the session deadline; the host treats a frame
  fed in three or more pieces at under :data:`TRICKLE_BYTES_PER_S` as
  hostile, and one that simply stopped halfway (a dying link) as a stall.
* **The whole session** (:data:`MAX_SESSION_MS` after it started): a peer
  trickling one byte before each silence deadline would otherwise hold the
  session, and the host's slot for it, for ever. The session fails as
  :class:`~.errors.SessionTooLong`, also ABORT code 5.

The session reports its next deadline through ``get_timer()`` and fires it in
``handle_timer(now)``; the host sleeps until then instead of bounding each
read and write on its own.
"""

from __future__ import annotations

#: Opening a stream on a live connection takes a few ms (one multistream
#: negotiation); a peer that cannot answer within 10 s is not going to sync,
#: and its connection is probably stalled.
OPEN_STREAM_MS = 10_000

#: Silence from the peer after which the session fails. Generous for a
#: Raspberry Pi verifying a 500-record batch (well under a second) or waiting
#: for its one serving slot behind another short session; short enough not to
#: pin a connection that died without a reset.
PEER_SILENCE_MS = 30_000

#: Longest one frame may take from its first byte to its last. The largest
#: frame (1 MiB) crosses a home LAN in well under a second and a poor 1 Mbit/s
#: Wi-Fi link in about 8 s; a peer trickling bytes to keep a served slot would
#: otherwise hold it until the session deadline.
FRAME_MS = 15_000

#: A begun frame that arrived slower than this on average, in several pieces,
#: was fed slowly on purpose: no honest link is that slow and still sending.
TRICKLE_BYTES_PER_S = 1024

#: Longest a whole session may run. Its largest honest load,
#: MAX_SESSION_RECORDS (one million records), verified at the ~1,000 records a
#: second of a Raspberry Pi, takes about 17 minutes; 30 leave room for slower
#: links. Sessions of an ordinary evening last well under a second.
MAX_SESSION_MS = 30 * 60_000
