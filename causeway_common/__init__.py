"""What both the hub and the agents need: canonical JSON, the record envelope,
batch manifests and their Ed25519 signatures, and the dataset schema catalogue.

The hub and the agents never import each other; they both import this package.
"""
