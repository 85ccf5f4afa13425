"""yamldb: one Vault/OpenBao database plugin for every SQL database, driven by YAML manifests."""

__version__ = "0.1.0"
