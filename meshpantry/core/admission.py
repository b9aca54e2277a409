"""Membership admission of a node's log, kept in step with the log.

:class:`Membership` answers "may this record enter the log?" from the
membership records it has been fed (the rules are
:mod:`meshpantry.core.membership`'s, and so is the count of who is a
member, :func:`~meshpantry.core.membership.count_members`, that its cuts
come from). :class:`Admissions` feeds it:

* when a store opens, every membership record of its log
  (:meth:`Admissions.replay`), repeating until nothing more is admitted,
  because the log may hold a device's own records that were written before
  their admission path arrived;
* every record entering the log (:meth:`Admissions.learn`).

A record enters the log from a peer only once admitted, but a device's own
records always enter (the device writes what it writes); one that is not yet
admissible, such as a join written before its invite arrived, is held in
``unapplied`` and applied as soon as membership grows enough to admit it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from protocol import GENESIS_KIND, Record

from .membership import (
    ADMISSION_KINDS,
    MAX_EXTRA_JOINS,
    MAX_UNCOUNTED_SEQS,
    Admission,
    Roster,
    count_members,
    join_proof_valid,
)
from .validation import NotAdmitted, NotCounted, ValidationError

__all__ = ["ADMISSION_KINDS", "LOGGED", "Admissions", "Membership"]

#: The verdicts that let a record into the log.
LOGGED = frozenset({Admission.ADMIT, Admission.LIMITED})


@dataclass
class Membership:
    """Incremental admission state for one neighbourhood.

    Feed it every logged record of :data:`ADMISSION_KINDS` with :meth:`add`.
    ``households`` maps each admitted device key to its household id (the
    household's first device key); ``paths`` each admitted device to the
    record that admitted it (the genesis, its join, or a link);
    ``learned`` holds the membership records learned, the input of the
    cuts (:meth:`cuts`); ``joins`` the joins that admitted a device, by
    invite id.
    """

    neighbourhood: bytes
    founder: bytes | None = None
    households: dict[bytes, bytes] = field(default_factory=dict)
    invites: dict[bytes, Record] = field(default_factory=dict)
    paths: dict[bytes, Record] = field(default_factory=dict)
    learned: list[Record] = field(default_factory=list)
    joins: dict[bytes, list[Record]] = field(default_factory=dict)
    #: What can make a device's records stop counting, noted as it is
    #: learned: devices a revoke by the founding household names, invites with a cancel or more
    #: joins than ``uses``, path records (invites, links) that precede their
    #: author's own path in ``(c, id)`` order. A device none of these touch
    #: (:meth:`doubtful`) counts, and no roster is computed for it.
    revoked_named: set[bytes] = field(default_factory=set)
    crowded: set[bytes] = field(default_factory=set)
    out_of_order: set[bytes] = field(default_factory=set)
    _roster: "Roster | None" = field(default=None, repr=False)
    _cuts: dict[bytes, int] | None = field(default=None, repr=False)
    _doubts: dict[bytes, bool] = field(default_factory=dict, repr=False)
    #: Admitted devices :meth:`doubtful` found in no doubt, as far as its
    #: verdicts known go (emptied with them): their records are admitted.
    _clear: set[bytes] = field(default_factory=set, repr=False)

    def admits(self, record: Record) -> Admission:
        if record.kind == "neighbourhood":
            return Admission.ADMIT if record.id == self.neighbourhood else Admission.REJECT
        if record.neighbourhood != self.neighbourhood:
            return Admission.REJECT
        if record.author in self.households:
            if not self.doubtful(record.author):
                return Admission.ADMIT
            cut = self.cuts().get(record.author)
            if cut is None or record.seq <= cut:
                return Admission.ADMIT
            return Admission.LIMITED if record.seq <= cut + MAX_UNCOUNTED_SEQS else Admission.REJECT
        if record.kind == "join":
            invite = self.invites.get(record.body["invite"])
            if invite is None:
                return Admission.WAIT
            return self._admits_join(record, invite)
        return Admission.WAIT

    def admits_all(self, records: Sequence[Record]) -> bool:
        """Whether :meth:`admits` gives ADMIT for every one of ``records``,
        found for the whole batch at once in the usual case (records of
        this neighbourhood, none a genesis, by admitted devices in no
        doubt): one set lookup for the authors instead of a verdict per
        record. False when some record is not admitted, or when that is not
        the case to tell at once: then ask :meth:`admits` of each."""
        authors = [record.author for record in records]
        clear = self._clear
        if not clear.issuperset(authors):
            households = self.households
            for author in authors:
                if author not in clear and author in households and not self.doubtful(author):
                    clear.add(author)
            if not clear.issuperset(authors):
                return False
        neighbourhood = self.neighbourhood
        for record in records:
            if record.neighbourhood != neighbourhood or record.kind == GENESIS_KIND:
                return False
        return True

    def _admits_join(self, join: Record, invite: Record) -> Admission:
        """A newcomer's join naming a held ``invite``: REJECT when it can
        never count (bad proof, made after the invite expired, a ``c`` not
        above the invite's) or the invite has its
        :data:`MAX_EXTRA_JOINS` extra joins; LIMITED when it does not count
        by the joins held (``uses`` counted joins precede it, or the invite
        does not count); else ADMIT."""
        if (
            not join_proof_valid(invite.body["key"], join.body["proof"], self.neighbourhood, join.author)
            or join.time > invite.body["expires"]
            or invite.lamport >= join.lamport
        ):
            return Admission.REJECT
        joins = self.joins.get(invite.id, ())
        if len(joins) >= invite.body["uses"] + MAX_EXTRA_JOINS:
            return Admission.REJECT
        if len(joins) < invite.body["uses"] and invite.id not in self.crowded | self.out_of_order \
                and not self.doubtful(invite.author):
            return Admission.ADMIT
        counted = self.roster().counted
        if invite.id not in counted:
            return Admission.LIMITED
        key = (join.lamport, join.id)
        before = sum(1 for j in joins if j.id in counted and (j.lamport, j.id) < key)
        return Admission.LIMITED if before >= invite.body["uses"] else Admission.ADMIT

    def refusal(self, record: Record) -> ValidationError:
        """Why the log refuses ``record`` (its verdict is REJECT or LIMITED):
        :class:`NotCounted` for a device past its cut, else :class:`NotAdmitted`."""
        cut = self.cuts().get(record.author) if record.author in self.households else None
        if cut is not None and record.seq > cut:
            return NotCounted(record.author, cut, record.seq, MAX_UNCOUNTED_SEQS)
        return NotAdmitted(record.author, record.kind, False)

    def add(self, record: Record) -> bool:
        """Learn from a logged record. Returns True if membership grew, so
        that waiting records should be looked at again. A record past its
        author's cut teaches nothing (a revoked device links no device)."""
        if record.kind not in ADMISSION_KINDS:
            return False
        if record.author in self.households and record.kind != "join" and self.doubtful(record.author):
            cut = self.cuts().get(record.author)
            if cut is not None and record.seq > cut:
                return False
        grew = False
        learned = True
        if record.kind == "neighbourhood" and record.id == self.neighbourhood:
            self.founder = record.author
            grew = self._admit(record.author, record.author, record)
        elif record.kind == "join":
            grew = self._admit(record.author, record.author, record)
            if grew:
                joins = self.joins.setdefault(record.body["invite"], [])
                joins.append(record)
                invite = self.invites.get(record.body["invite"])
                if invite is None or len(joins) > invite.body["uses"]:
                    self._doubt(self.crowded, record.body["invite"])
        elif record.kind == "device_link" and record.author in self.households:
            self._in_order(record)
            grew = self._admit(record.body["device"], self.households[record.author], record)
        elif record.kind == "invite" and record.author in self.households:
            self._in_order(record)
            self.invites[record.id] = record
            grew = True  # a waiting join may now be checkable
        elif record.kind == "revoke":
            if self.households.get(record.author) == self.founder:  # only admins' revokes can count
                self._doubt(self.revoked_named, record.body["member"])
        elif record.kind == "invite_cancel":
            self._doubt(self.crowded, record.body["invite"])
        else:
            learned = False
        if learned:
            self.learned.append(record)
            self._roster = self._cuts = None
        return grew

    def _in_order(self, record: Record) -> None:
        """Note a path record that precedes its author's own path in
        ``(c, id)`` order: it does not count (SPEC 7.4), so cuts apply."""
        path = self.paths.get(record.author)
        if path is not None and (path.lamport, path.id) >= (record.lamport, record.id):
            self._doubt(self.out_of_order, record.id)

    def _doubt(self, noted: set[bytes], key: bytes) -> None:
        if key not in noted:
            noted.add(key)
            self._doubts.clear()
            self._clear.clear()

    def doubtful(self, device: bytes) -> bool:
        """Whether ``device``'s records may stop counting somewhere: a revoke
        names it, or its path (its join's invite, the inviter's or linker's
        own path, and so on back to the founder) is touched by a cancel, an
        invite joined more than ``uses`` times, or a record out of order.
        False means it counts by :func:`count_members` and is not revoked."""
        doubts = self._doubts
        known = doubts.get(device)
        if known is not None:
            return known
        chain: list[bytes] = []
        verdict = False
        current: bytes | None = device
        while current is not None:
            known = doubts.get(current)
            if known is not None:
                verdict = known
                break
            chain.append(current)
            path = self.paths.get(current)
            if current in self.revoked_named or path is None or path.id in self.out_of_order:
                verdict = path is not None or current in self.revoked_named
                break
            if path.kind == "neighbourhood":
                break
            if path.kind == "join":
                invite = self.invites.get(path.body["invite"])
                if invite is None or invite.id in self.crowded or invite.id in self.out_of_order:
                    verdict = True
                    break
                current = invite.author
            else:
                current = path.author
            if current in chain:  # a cycle of paths cannot count
                verdict = True
                break
        for seen in chain:
            doubts[seen] = verdict
        if not verdict:
            households = self.households
            self._clear.update([seen for seen in chain if seen in households])
        return verdict

    def _admit(self, device: bytes, household: bytes, path: Record) -> bool:
        if device in self.households:
            return False
        self.households[device] = household
        self.paths[device] = path
        return True

    def roster(self) -> "Roster":
        """Who counts, by the membership records learned (cached until the next :meth:`add`)."""
        if self._roster is None:
            self._roster = count_members(self.learned, self.neighbourhood)
        return self._roster

    def cuts(self) -> dict[bytes, int]:
        """Admitted device -> the seq after which its records do not count:
        its ``after_seq`` when revoked; when its join or link does not count,
        the join's seq (the joiner's own join stays) or 0 (a linked device).
        Empty while no device is :meth:`doubtful`."""
        if self._cuts is None:
            cuts: dict[bytes, int] = {}
            if self.revoked_named or self.crowded or self.out_of_order:
                roster = self.roster()
                for device, path in self.paths.items():
                    if device in roster.households:
                        after = roster.revoked.get(device)
                        if after is not None:
                            cuts[device] = after
                    else:
                        cut = path.seq if path.author == device else 0
                        cuts[device] = min(cut, roster.revoked.get(device, cut))
            self._cuts = cuts
        return self._cuts

    def copy(self) -> "Membership":
        """An independent copy (maps and lists copied, records shared). The
        verdicts of :meth:`doubtful` known so far come with it: they follow
        from the state copied."""
        return Membership(
            self.neighbourhood, self.founder, dict(self.households), dict(self.invites), dict(self.paths),
            list(self.learned), {k: list(v) for k, v in self.joins.items()},
            set(self.revoked_named), set(self.crowded), set(self.out_of_order),
            _doubts=dict(self._doubts), _clear=set(self._clear),
        )


class Admissions:
    """A :class:`Membership` plus the own records it could not apply yet."""

    def __init__(self, neighbourhood: bytes) -> None:
        self.membership = Membership(neighbourhood)
        self.unapplied: list[Record] = []

    def admits(self, record: Record) -> Admission:
        return self.membership.admits(record)

    def learn(self, record: Record, *, admitted: bool) -> bool:
        """Take in a record that just entered the log.

        ``admitted`` says whether :meth:`admits` returned ADMIT or LIMITED
        for it (always true for peers' records). Returns True if membership grew, so that
        waiting records deserve another look.
        """
        if record.kind not in ADMISSION_KINDS:
            return False
        if not admitted:
            self.unapplied.append(record)
            return False
        grew = self.membership.add(record)
        if grew:
            self._apply_unapplied()
        return grew

    def replay(self, records: Iterable[Record]) -> None:
        """Feed membership records in log order, applying what becomes admissible."""
        self.unapplied.extend(r for r in records if r.kind in ADMISSION_KINDS)
        self._apply_unapplied()

    def copy(self) -> "Admissions":
        """An independent copy (membership maps copied, records shared)."""
        twin = Admissions(self.membership.neighbourhood)
        twin.membership = self.membership.copy()
        twin.unapplied = list(self.unapplied)
        return twin

    def _apply_unapplied(self) -> None:
        progress = True
        while progress and self.unapplied:
            progress = False
            still: list[Record] = []
            for record in self.unapplied:
                if self.membership.admits(record) in LOGGED:
                    self.membership.add(record)
                    progress = True
                else:
                    still.append(record)
            self.unapplied = still
