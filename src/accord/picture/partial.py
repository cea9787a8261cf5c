"""The picture one party can rebuild from what it may read of the log: a party mirror's fold.

A party reads the agreement, every notice, its own statements and what is addressed to it in
full; other parties' notices may come with the title withheld (`redacted`); everything else
comes as a leaf hash only (`hidden`). `PartyPicture` folds that view with the same rule book as
the operator's `Picture` (every signature it can see, every state transition), and differs only
where hidden entries leave gaps it cannot fill:

- a hidden entry takes its place in the log (`skip`): indices stay the log's own;
- another signer's seq must increase but may skip (its messages to others are hidden, and the
  operator's findings about others too); the party's own seq must still be exactly last + 1,
  since all of its own statements are visible to it;
- an entry with the title withheld cannot have its signature checked (the signed bytes are not
  given), so it is folded without that check and counted in `unverified`.

Pure: imports only the core.
"""

from __future__ import annotations

from accord.errors import ReplayedSeq
from accord.log.event import Entry
from accord.picture.fold import Changes, Picture


class PartyPicture(Picture):
    """The picture as `party` can know it from its own copy of the log."""

    def __init__(self, operator_key: bytes, origin: str, party: str) -> None:
        super().__init__(operator_key, origin)
        self.party = party
        self.hidden = 0  # entries known by their leaf hash only
        self.unverified = 0  # entries folded without their signature (title withheld)

    def skip(self) -> None:
        """A hidden entry: it holds its index in the log and changes nothing visible."""
        self.size += 1
        self.hidden += 1

    def apply_redacted(self, entry: Entry, leaf: bytes) -> Changes:
        """A notice whose title is withheld from this party: folded as far as it is shown."""
        changes = self.apply(entry, leaf, verify=False)
        self.unverified += 1
        return changes

    def _check_seq(self, party: str, seq: int, version: int) -> None:
        if party == self.party:
            super()._check_seq(party, seq, version)
            return
        last = self.seqs.get(party, 0)
        if seq <= last:
            raise ReplayedSeq(f"seq {seq} of {party!r} is not after its last seq {last}",
                              field="event.seq", accepted=f"an integer greater than {last}")
