"""Size limits of the wire format.

Every decoder checks these before (or while) parsing, so a hostile peer cannot
make a node allocate more than a bounded amount for one record or frame.
Each number says why it is that number.
"""

#: Whole encoded record (envelope, payload and signature). A recipe with a long
#: story and thirty ingredient lines encodes to about 6 KiB; 32 KiB leaves room
#: for five times that while keeping a 1,000-record sync batch under 32 MiB.
MAX_RECORD_BYTES = 32 * 1024

#: Any single text field (a note, a step, a story). A long family story fits
#: in 16 KiB of UTF-8; anything longer belongs in several story records.
MAX_TEXT_BYTES = 16 * 1024

#: Short labels: item names, units, tags, areas, household names. Long enough
#: for "organic heirloom tomatoes (mixed colours)", short enough for a board row.
MAX_LABEL_BYTES = 200

#: Items in any list (tags, ingredient lines, steps, needs). Thirty is a big
#: recipe; 200 leaves headroom without letting one record hold a book.
MAX_LIST_ITEMS = 200

#: Keys in any map. The largest body (offer) has a dozen fields; 64 allows later
#: versions to add optional fields without letting a map become a database.
MAX_MAP_KEYS = 64

#: Nesting depth of maps and lists, counted from the payload map (depth 0).
#: The deepest shape we define is a recipe_edit element id: payload -> body ->
#: ops list -> op map -> [id, index] -> id (5); 8 allows growth.
MAX_DEPTH = 8

#: Kind names are short identifiers such as "offer_update".
MAX_KIND_BYTES = 32

#: Quantities are integers in a stated unit (grams, millilitres, items). A
#: tonne in grams is 1e6; 1e12 is far past any kitchen and fits in int64.
MAX_QUANTITY = 10**12

#: Sequence numbers and Lamport counters: int64 range so every implementation
#: stores them natively.
MAX_COUNTER = 2**63 - 1

#: Wall-clock times are milliseconds since the Unix epoch, int64.
MAX_TIME_MS = 2**63 - 1

#: How far into the future a record's advisory wall time may lie, relative to
#: the receiver's clock. Clocks drift by minutes in an outage with no time
#: server; a day is generous to drift and stingy to records "from the future"
#: that would never expire.
MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000

#: How far a record's Lamport counter may lie above the highest counter the
#: receiver can reach in its log (section 7.2). An honest counter is one above
#: the highest its author saw, so it runs ahead of a receiver only by records
#: the receiver lacks: 2^24 (16.7 million) is more than a neighbourhood writes
#: in years, while a hostile writer needs 2^39 records, each accepted in turn,
#: to carry the counter to its limit of 2^63 - 1.
MAX_LAMPORT_LEAD = 1 << 24

#: Ed25519 public keys, signatures, SHA-256 digests.
KEY_BYTES = 32
SIGNATURE_BYTES = 64
ID_BYTES = 32

#: Binary fields other than keys and ids (an encrypted pickup note): a sealed
#: box of a short text, bounded like a text field.
MAX_BINARY_BYTES = MAX_TEXT_BYTES + 128
