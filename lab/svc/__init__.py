"""The ``svc`` lab part: real services from Debian's packages, each weakness next to a hardened twin.

One target namespace (``pl-<tag>-svc``) holds two addresses: ``WEAK`` (198.18.12.2) runs the
misconfigured member of every pair, ``HARD`` (198.18.12.3) its hardened twin.  Several services
listen on non-standard ports on purpose (identification must go by protocol, not by port).

Everything runs under one supervisor, started inside the namespace by :class:`lab.Lab` as::

    ip netns exec pl-<tag>-svc python3 -m lab.services run --dir RUN_DIR/svc --lab-tag TAG --parent PID

It writes every server's configuration under ``--dir``, starts the servers in parallel (each in
its own process group, killed with the supervisor), waits until every port accepts connections,
prints ``ready``, and on SIGTERM (or when its parent is gone) stops them all.  Servers that drop
privileges (mosquitto, postgres) lose the parent-death signal; :meth:`lab.Lab.close` and
:func:`lab.sweep` stop whatever still lives in the namespace.  An nft table lets each address
accept connections only on its own ports of :data:`SERVICES` (every other port resets), so the
truth is complete: nothing else is open on either host.

Where Debian ships no server (MongoDB, Elasticsearch, CouchDB, the Docker Engine API, kubelet,
an RTSP camera, an RDP server that enforces NLA, a DVR web interface) a **stand-in** written from
the protocol's specification answers instead; :data:`SERVICES` marks them ``real: False``.

:data:`SERVICES` is the ground truth the tests assert against: for each entry its address, port,
the expected service name and, per check id, the expected outcome.

The code, one module per daemon family:

- :mod:`lab.svc.truth`: :data:`SERVICES` (the ground truth), the Debian packages, the lab-side build;
- :mod:`lab.svc.common`: the process supervisor and file helpers every family uses;
- :mod:`lab.svc.certs`: the certificates;
- :mod:`lab.svc.files` (vsftpd, Samba), :mod:`lab.svc.shells` (OpenSSH, telnetd),
  :mod:`lab.svc.web` (nginx), :mod:`lab.svc.databases` (Redis, PostgreSQL, MariaDB, memcached),
  :mod:`lab.svc.brokers` (mosquitto), :mod:`lab.svc.desktop` (TigerVNC, xrdp);
- :mod:`lab.svc.standins`: the stand-ins;
- :mod:`lab.svc.supervisor`: the supervisor's main loop.

:mod:`lab.services` re-exports every name and stays the supervisor's ``-m`` entry point.
"""
