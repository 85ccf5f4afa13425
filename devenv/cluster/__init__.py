"""A 3-node OpenBao raft cluster on loopback (:class:`OpenBaoCluster`); ``python -m devenv.cluster`` runs one."""

from devenv.cluster.nodes import FAST, PRODUCTION, ClusterNode, OpenBaoCluster, poll

__all__ = ["FAST", "PRODUCTION", "ClusterNode", "OpenBaoCluster", "poll"]
