"""The ``svc`` lab part, kept importable and runnable under its old name.

The code lives in :mod:`lab.svc`, one module per daemon family; this module re-exports every name
it used to define (``from lab.services import SERVICES``, ``HARD``, ...) and is still the
supervisor's entry point, which :class:`lab.Lab` starts inside the namespace as::

    ip netns exec pl-<tag>-svc python3 -m lab.services run --dir RUN_DIR/svc --lab-tag TAG --parent PID

(the lab's cleanup finds the supervisor by that module name).
"""

from __future__ import annotations

import sys

from .svc.brokers import _mosquitto as _mosquitto
from .svc.certs import make_certs as make_certs
from .svc.common import _has_line as _has_line
from .svc.common import _pdeathsig as _pdeathsig
from .svc.common import _private as _private
from .svc.common import _run as _run
from .svc.common import _Supervisor as _Supervisor
from .svc.common import _write as _write
from .svc.databases import _AS_POSTGRES as _AS_POSTGRES
from .svc.databases import PG_BIN as PG_BIN
from .svc.databases import _mariadb as _mariadb
from .svc.databases import _memcached as _memcached
from .svc.databases import _pg_bin as _pg_bin
from .svc.databases import _postgres as _postgres
from .svc.databases import _postgres_prep as _postgres_prep
from .svc.databases import _redis as _redis
from .svc.desktop import _vnc as _vnc
from .svc.desktop import _xrdp as _xrdp
from .svc.files import _samba as _samba
from .svc.files import _vsftpd as _vsftpd
from .svc.shells import _sshd as _sshd
from .svc.shells import _telnet_loop as _telnet_loop
from .svc.standins import HttpApp as HttpApp
from .svc.standins import _bson as _bson
from .svc.standins import _camera as _camera
from .svc.standins import _couch as _couch
from .svc.standins import _docker as _docker
from .svc.standins import _es as _es
from .svc.standins import _first_key as _first_key
from .svc.standins import _http as _http
from .svc.standins import _kubelet as _kubelet
from .svc.standins import _mongo_legacy as _mongo_legacy
from .svc.standins import _serve_http as _serve_http
from .svc.standins import _serve_mongo as _serve_mongo
from .svc.standins import _serve_rdp_nla as _serve_rdp_nla
from .svc.standins import _serve_rtsp as _serve_rtsp
from .svc.standins import _standins as _standins
from .svc.supervisor import READY_TIMEOUT as READY_TIMEOUT
from .svc.supervisor import _main as _main
from .svc.supervisor import _port_open as _port_open
from .svc.supervisor import main as main
from .svc.truth import HARD as HARD
from .svc.truth import NET as NET
from .svc.truth import OK as OK
from .svc.truth import PACKAGES as PACKAGES
from .svc.truth import SERVICES as SERVICES
from .svc.truth import WEAK as WEAK
from .svc.truth import V as V
from .svc.truth import build as build
from .svc.truth import nft_script as nft_script
from .svc.truth import truth as truth
from .svc.web import _nginx as _nginx

if __name__ == "__main__":
    sys.exit(main())
