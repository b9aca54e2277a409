"""The deterministic outage simulator.

One seed decides everything: the virtual clock (:mod:`.clock`), the virtual
network (:mod:`.network`), the gossip mesh (:mod:`.gossip`), what households do
(:mod:`.workload`), crashes and their power cuts. Nodes (:mod:`.node`) run the
real core: records are signed by :func:`meshpantry.core.chain.next_record`,
admitted by :class:`meshpantry.core.admission.Membership`, stored by the real
SQLite store (:mod:`.sqlite_store`) or an in-memory model with its durability
rules (:mod:`.memory_store`), and reconciled by the sans-IO sync session
(:mod:`.catchup`). :mod:`.invariants` checks every run; :mod:`.report` writes
what a reader can look at.
"""
