"""Procedural, medically flavoured image families (phantoms): the embedded benchmark that needs no download.

Each family renders one image at a time from its own random stream, so image i is a function of
(family, seed, size, i) alone. The label lives in local structure (a lesion's shape, border, texture,
count or colour); global brightness, contrast and colour are randomised per image independently of
the label, and where a lesion adds pixels of a distinctive tone a label-free structure draws on the
same budget, so global statistics barely predict the label (tests check it). Every image comes
with the mask of the structure that defines its label (all zeros for a "normal" image).

Downstream families (xray, histo, fundus, ultrasound) form the embedded suite; pretraining families
(derm, ct, endoscopy) share their visual primitives (`draw`) — blobs with regular or irregular borders,
dot clusters, speckle, texture, curvilinear vessels — without sharing images, so pretraining on one set
and fine-tuning on the other is a transfer test. `generate` draws images of a family; the `synthetic`
loader (harness.data.synthetic) caches them per task split.
"""

from harness.data.phantoms import downstream, pretraining  # noqa: F401  (register the families in FAMILIES)
