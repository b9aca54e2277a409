"""The pure core: chains, membership, validation, CRDT views and the sync session.

Nothing under ``meshpantry.core`` (or ``protocol``) performs IO: no sockets,
files, clocks or randomness. Time comes in as ``now`` (ms since the epoch) and
randomness as a seeded :class:`random.Random`. ``tests/core/test_purity.py``
and ``tests/sync/test_purity.py`` check the imports.
"""
