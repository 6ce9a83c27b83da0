"""Several nodes on one PostgreSQL database: node leases and station presence, CALLs and domain
events routed between nodes (LISTEN/NOTIFY), one leader per site with a fencing epoch, and the
graceful hand-over of a stopping node. Used only with `cluster.enabled`; a single process needs
none of it."""
