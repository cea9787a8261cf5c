"""Made with Accord at commit 3c65e76 (event format v1), to test that old logs still verify."""
import base64
import sys
from datetime import timedelta
from pathlib import Path

from accord import commands
from support import agreement_doc, make_world, volume

out = Path(sys.argv[1])
w = make_world(out)
for p, k in w.keys.items():
    k.write(out / f"{p}.key")
a = w.file("A", {"kind": "strike", "title": "A strike", "volumes": [volume()],
                 "private": {"unit": "x"}}, notice="A-1")
b = w.file("B", {"kind": "transit", "volumes": [volume()]}, notice="B-1")  # conflict finding
w.ref("B", "notice.ack", "A-1", 1)
w.writer.submit(w.sub("A", "message", {"message": "M1", "text": "hello", "ack_minutes": 1}))
w.writer.submit(w.sub("B", "message.ack", {"message": "M1"}))
# an amendment of the agreement (body replaces), signed by both
doc = agreement_doc(w.keys)
doc["kinds"]["transit"] = {"lead_time_minutes": 30}
leaf = base64.b64encode(w.writer.picture.agreement_leaf).decode()
prop = commands.propose_agreement(doc, w.clock.now(), leaf, 2)
for k in w.keys.values():
    prop = commands.sign_proposal(prop, k)
w.writer.submit(commands.adoption(prop))
# a seq gap, which v1 allowed
w.writer.submit(w.sub("B", "notice.file", {"notice": "B-2", "kind": "transit",
                                            "volumes": [volume(lon=20)]},
                      seq=w.writer.picture.next_seq("B") + 3))
# a strike nobody acknowledges, then its deadline passes: finding + escalation
w.file("A", {"kind": "strike", "volumes": [volume(lon=40)]}, notice="A-2")
w.clock.advance(timedelta(minutes=10))
w.writer.escalate()
print("entries", w.store.size(), "seqs", w.writer.picture.seqs)
w.writer.store.close()
