"""yamldb: one Vault/OpenBao database plugin for every SQL database, driven by YAML manifests."""

__all__ = ["DISTRIBUTION", "__version__"]

__version__ = "0.1.0"
# The name on PyPI ("yamldb" there is an unrelated project); the package and command are yamldb.
DISTRIBUTION = "yamldb-plugin"
