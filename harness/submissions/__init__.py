"""Scoring other people's pretrained weights: manifests, verification, contamination, the registry.

A submission is data only — a strict YAML manifest plus a weights reference — and everything in it
is untrusted: weights can carry code and text ends up in web pages. The modules, one job each:
`text` (what untrusted text may contain), `manifest` (the schema), `registry` (submissions/ and
duplicates), `download` (https weights with a size cap), `verify` (checksum, safe load, fit to the
backbone), `contamination` (declared pretraining data vs the suite's tasks), `images` (pretraining
images vs the suite's test images), `suite` (which tasks a submission is scored on).
"""
