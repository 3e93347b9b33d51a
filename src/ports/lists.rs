//! The curated port tables and the named sets and service names built from them; how they were
//! built is told in the module docs of [`crate::ports`].

use crate::result::Protocol;

/// The ports of a named set (`"top-100"`, `"top-1000"`, case-insensitive), in priority order.
pub fn named_set(name: &str) -> Option<&'static [u16]> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("top-100") {
        Some(&TOP_100)
    } else if name.eq_ignore_ascii_case("top-1000") {
        Some(&TOP_1000)
    } else {
        None
    }
}

/// A named set of `proto` ports: the TCP lists above, or [`UDP_TOP_100`] / [`UDP_TOP_1000`].
pub fn named_set_for(name: &str, proto: Protocol) -> Option<&'static [u16]> {
    match proto {
        Protocol::Tcp => named_set(name),
        Protocol::Udp => {
            let name = name.trim();
            if name.eq_ignore_ascii_case("top-100") {
                Some(&UDP_TOP_100)
            } else if name.eq_ignore_ascii_case("top-1000") {
                Some(&UDP_TOP_1000)
            } else {
                None
            }
        }
    }
}

/// The common UDP service name for a port, from the curated UDP tier.
pub fn udp_service_name(port: u16) -> Option<&'static str> {
    UDP_TIER.iter().find(|&&(p, _)| p == port).map(|&(_, n)| n)
}

/// The 100 UDP ports most worth checking, most important first: the amplifiers, leaky and
/// unauthenticated services of RISK-KNOWLEDGE (DNS, NTP, SNMP, NetBIOS, TFTP, SSDP, memcached,
/// CLDAP, BACnet, ...), then VPN, VoIP, directory, management, ICS and discovery protocols, each a
/// documented default of its protocol (IANA's service-name registry, vendors' documentation).
pub static UDP_TOP_100: [u16; 100] = tier_ports::<100>(&UDP_TIER);

/// [`UDP_TOP_100`], then the remaining ports of 1-1024 ascending, then ascending above 1024.
pub static UDP_TOP_1000: [u16; 1000] = build_udp_top_1000();

const fn build_udp_top_1000() -> [u16; 1000] {
    let mut out = [0u16; 1000];
    let mut seen = [false; 65536];
    let mut n = 0;
    while n < UDP_TIER.len() {
        out[n] = UDP_TIER[n].0;
        assert!(!seen[UDP_TIER[n].0 as usize], "duplicate port in UDP_TIER");
        seen[UDP_TIER[n].0 as usize] = true;
        n += 1;
    }
    let mut p = 1usize;
    while n < 1000 {
        if !seen[p] {
            out[n] = p as u16;
            seen[p] = true;
            n += 1;
        }
        p += 1;
    }
    out
}

#[rustfmt::skip]
const UDP_TIER: [(u16, &str); 100] = [
    // amplifiers and leaky services (RISK-KNOWLEDGE)
    (53, "domain"), (123, "ntp"), (161, "snmp"), (137, "netbios-ns"), (138, "netbios-dgm"), (69, "tftp"),
    (111, "rpcbind"), (2049, "nfs"), (1900, "ssdp"), (11211, "memcache"), (389, "ldap"), (19, "chargen"),
    (17, "qotd"), (5353, "mdns"), (1434, "ms-sql-m"), (47808, "bacnet"), (37810, "dahua-discovery"),
    (3389, "ms-wbt-server"), (88, "kerberos"), (464, "kpasswd"), (500, "isakmp"), (4500, "ipsec-nat-t"),
    (5060, "sip"), (623, "asf-rmcp"), (520, "route"), (162, "snmptrap"), (514, "syslog"), (7, "echo"),
    (13, "daytime"), (37, "time"), (9, "discard"), (3702, "ws-discovery"), (5351, "nat-pmp"), (5683, "coap"),
    (10001, "ubnt-discovery"), (1194, "openvpn"), (1701, "l2tp"), (1812, "radius"), (1813, "radacct"),
    (1645, "radius-old"), (1646, "radacct-old"), (67, "dhcps"), (68, "dhcpc"), (546, "dhcpv6-client"),
    (547, "dhcpv6-server"), (443, "quic"), (3478, "stun"), (5355, "llmnr"), (135, "msrpc"), (139, "netbios-ssn"),
    (445, "microsoft-ds"), (631, "ipp"), (177, "xdmcp"), (427, "svrloc"), (1604, "citrix-ica"),
    (3283, "net-assistant"), (5632, "pcanywherestat"), (17185, "vxworks-wdb"), (20000, "dnp3"), (502, "modbus"),
    (44818, "ethernet-ip"), (2222, "ethernet-ip-io"), (9600, "omron-fins"), (34964, "profinet-cm"),
    (2123, "gtp-c"), (2152, "gtp-u"), (1719, "h323ras"), (2427, "mgcp-gateway"), (2727, "mgcp-callagent"),
    (5004, "rtp"), (5005, "rtcp"), (4789, "vxlan"), (6081, "geneve"), (8472, "otv"), (6343, "sflow"),
    (2055, "netflow"), (4739, "ipfix"), (1985, "hsrp"), (3784, "bfd-control"), (517, "talk"), (518, "ntalk"),
    (497, "retrospect"), (1026, "win-rpc"), (1027, "win-rpc-alt"), (5000, "upnp"), (10000, "ndmp"),
    (9987, "teamspeak3"), (27015, "steam"), (25565, "minecraft"), (64738, "mumble"), (6881, "bittorrent"),
    (51413, "transmission"), (4672, "emule"), (8767, "teamspeak2"), (2302, "halo"), (28960, "cod"),
    (1028, "win-rpc-alt2"), (49152, "win-dynamic"), (32768, "rpc-dynamic"), (4000, "icq"),
];

/// The common TCP service name for a port from our curated tiers (22 -> `"ssh"`, 445 ->
/// `"microsoft-ds"`), or `None` for ports we have no name for. A hint, not an identification.
pub fn service_name(port: u16) -> Option<&'static str> {
    SERVICE_NAMES.binary_search_by_key(&port, |&(p, _)| p).ok().map(|i| SERVICE_NAMES[i].1)
}

/// The 100 most important TCP ports to check, most important first. See the module docs.
pub static TOP_100: [u16; 100] = tier_ports::<100>(&TIER_1);

/// [`TOP_100`], then the second curated tier, then filler. See the module docs.
pub static TOP_1000: [u16; 1000] = build_top_1000();

// ---------------------------------------------------------------------------------------------
// The curated tiers. Each entry is (port, service name); all are TCP.
// ---------------------------------------------------------------------------------------------

/// First tier: exactly 100 ports in priority order; becomes [`TOP_100`].
const TIER_1: [(u16, &str); 100] = [
    // Windows file sharing and remote desktop
    (445, "microsoft-ds"),
    (3389, "ms-wbt-server"),
    // cleartext remote shells and file transfer, SSH
    (23, "telnet"),
    (2323, "telnet-alt"), // IoT telnet daemons
    (21, "ftp"),
    (22, "ssh"),
    // Windows RPC and NetBIOS, VNC, WinRM
    (135, "msrpc"),
    (139, "netbios-ssn"),
    (5900, "vnc"),
    (5901, "vnc-1"),
    (5985, "wsman"),
    (5986, "wsmans"),
    // data stores often reachable without authentication
    (6379, "redis"),
    (27017, "mongodb"),
    (9200, "elasticsearch"),
    (5984, "couchdb"),
    // container and cluster control planes
    (2375, "docker"),
    (2376, "docker-s"),
    (6443, "kube-apiserver"),
    (10250, "kubelet"),
    (10255, "kubelet-ro"),
    (2379, "etcd-client"),
    (2380, "etcd-server"),
    // IoT, cameras, DVRs, routers
    (1883, "mqtt"),
    (8883, "secure-mqtt"),
    (554, "rtsp"),
    (37777, "dahua-dvr"),
    (34567, "xiongmai-dvr"),
    (9527, "xiongmai-debug"),
    (9530, "xiongmai-telnet-enable"),
    (8000, "http-alt"), // also the Hikvision SDK port
    (7547, "cwmp"),     // TR-069 CPE management
    (5555, "adb"),      // Android debug bridge over TCP
    (8291, "mikrotik-winbox"),
    (4786, "cisco-smart-install"),
    // industrial control
    (502, "modbus"),
    (102, "iso-tsap"), // Siemens S7
    (20000, "dnp3"),
    (44818, "ethernet-ip"),
    (4840, "opcua-tcp"),
    (2404, "iec-104"),
    (1911, "niagara-fox"),
    // databases
    (3306, "mysql"),
    (5432, "postgresql"),
    (1433, "ms-sql-s"),
    (1521, "oracle-tns"),
    (11211, "memcache"),
    // legacy Unix remote access, RPC, file sharing, X
    (512, "exec"),
    (513, "login"),
    (514, "shell"),
    (111, "sunrpc"),
    (2049, "nfs"),
    (6000, "x11"),
    (873, "rsync"),
    // Java remote management and connectors
    (1099, "rmiregistry"),
    (8009, "ajp13"),
    // directory and authentication
    (389, "ldap"),
    (636, "ldaps"),
    (88, "kerberos"),
    (464, "kpasswd"),
    // cleartext mail
    (25, "smtp"),
    (110, "pop3"),
    (143, "imap"),
    // everyday: web, DNS, mail submission and TLS mail
    (80, "http"),
    (443, "https"),
    (8080, "http-alt"),
    (8443, "https-alt"),
    (53, "domain"),
    (465, "submissions"),
    (587, "submission"),
    (993, "imaps"),
    (995, "pop3s"),
    // everyday: alternate web ports of apps and appliances
    (8888, "http-alt"),
    (9090, "prometheus"),
    (3000, "http-alt"), // Grafana, Node.js, Gitea
    (5000, "http-alt"), // Flask, Docker registry, Synology DSM
    (8081, "http-alt"),
    (8008, "http-alt"),
    (9443, "https-alt"),
    // proxies and VPN
    (3128, "squid-http"),
    (1080, "socks"),
    (1723, "pptp"),
    // voice and printing
    (5060, "sip"),
    (5061, "sips"),
    (631, "ipp"),
    (9100, "jetdirect"),
    // admin panels and platform services
    (10000, "webmin"),
    (8089, "splunkd"),
    (8200, "vault"),
    (8500, "consul"),
    (5601, "kibana"),
    (9000, "cslistener"), // MinIO, Portainer, SonarQube, PHP-FPM
    // message brokers, wide-column and time-series stores
    (9092, "kafka"),
    (2181, "zookeeper"),
    (5672, "amqp"),
    (15672, "rabbitmq-mgmt"),
    (9042, "cassandra"),
    (8086, "influxdb"),
    // directory global catalog, chat
    (3268, "msft-gc"),
    (6667, "irc"),
];

/// Second tier: other well-known TCP service defaults, grouped by kind (order within
/// [`TOP_1000`] follows this table).
const TIER_2: &[(u16, &str)] = &[
    // alternate HTTP/HTTPS ports of web servers, appliances and app servers
    (81, "http-alt"),
    (591, "filemaker"),
    (593, "http-rpc-epmap"),
    (8001, "http-alt"),
    (8002, "http-alt"),
    (8003, "http-alt"),
    (8004, "http-alt"),
    (8010, "http-alt"),
    (8082, "http-alt"),
    (8083, "http-alt"),
    (8084, "http-alt"),
    (8085, "http-alt"),
    (8088, "http-alt"), // also Hadoop YARN ResourceManager
    (8090, "http-alt"),
    (8180, "http-alt"),
    (8181, "http-alt"),
    (8444, "https-alt"),
    (8800, "http-alt"),
    (8843, "https-alt"),
    (8880, "http-alt"),
    (8889, "http-alt"),
    (9080, "http-alt"),
    (9081, "http-alt"),
    (7080, "http-alt"),
    (7443, "https-alt"),
    (4443, "https-alt"),
    (5001, "https-alt"),
    (10443, "https-alt"),
    // Java, Node and other application servers, debuggers
    (8005, "tomcat-shutdown"),
    (7001, "weblogic"),
    (7002, "weblogic-ssl"),
    (4848, "glassfish-admin"),
    (9990, "wildfly-admin"),
    (9060, "websphere-admin"),
    (9043, "websphere-admin-ssl"),
    (4444, "krb524"),
    (5005, "jdwp"),
    (9229, "node-inspector"),
    (8983, "solr"),
    // databases, caches and search engines
    (33060, "mysqlx"),
    (6432, "pgbouncer"),
    (2483, "oracle-ttc"),
    (2484, "oracle-ttc-ssl"),
    (523, "ibm-db2"),
    (50000, "db2"),
    (3050, "firebird"),
    (1527, "derby"),
    (7474, "neo4j"),
    (7687, "neo4j-bolt"),
    (8087, "riak-pb"),
    (8098, "riak-http"),
    (28015, "rethinkdb"),
    (29015, "rethinkdb-cluster"),
    (8091, "couchbase"),
    (11210, "couchbase-data"),
    (26257, "cockroachdb"),
    (8529, "arangodb"),
    (27018, "mongodb-shard"),
    (27019, "mongodb-config"),
    (28017, "mongodb-http"),
    (26379, "redis-sentinel"),
    (9300, "elasticsearch-transport"),
    (7000, "airplay"), // macOS AirPlay receiver; also Cassandra inter-node
    (7199, "cassandra-jmx"),
    (9160, "cassandra-thrift"),
    (7700, "meilisearch"),
    (8108, "typesense"),
    (6333, "qdrant"),
    (19530, "milvus"),
    // message brokers and messaging
    (5671, "amqps"),
    (25672, "rabbitmq-dist"),
    (4369, "epmd"),
    (61613, "stomp"),
    (61614, "stomp-ssl"),
    (61616, "activemq"),
    (8161, "activemq-admin"),
    (4222, "nats"),
    (6222, "nats-cluster"),
    (8222, "nats-monitor"),
    (1414, "ibm-mqseries"),
    (6650, "pulsar"),
    (2888, "zookeeper-peer"),
    (3888, "zookeeper-election"),
    (5222, "xmpp-client"),
    (5223, "xmpp-client-ssl"),
    (5269, "xmpp-server"),
    (5280, "xmpp-bosh"),
    // monitoring, logging and tracing
    (9091, "pushgateway"),
    (9093, "alertmanager"),
    (9101, "bacula-dir"),
    (9102, "bacula-fd"),
    (9103, "bacula-sd"),
    (9104, "mysqld-exporter"),
    (9113, "nginx-exporter"),
    (9115, "blackbox-exporter"),
    (9116, "snmp-exporter"),
    (9117, "apache-exporter"),
    (9121, "redis-exporter"),
    (9182, "windows-exporter"),
    (9187, "postgres-exporter"),
    (10050, "zabbix-agent"),
    (10051, "zabbix-trapper"),
    (5666, "nrpe"),
    (4949, "munin"),
    (2003, "graphite"),
    (2004, "graphite-pickle"),
    (3100, "loki"),
    (9411, "zipkin"),
    (16686, "jaeger-ui"),
    (14268, "jaeger-collector"),
    (4317, "otlp-grpc"),
    (4318, "otlp-http"),
    (8428, "victoriametrics"),
    (19999, "netdata"),
    (5044, "beats"),
    (9600, "logstash-api"),
    (12201, "gelf"),
    (24224, "fluentd"),
    (8126, "datadog-apm"),
    (601, "syslog-conn"),
    (6514, "syslog-tls"),
    (199, "smux"),
    (705, "agentx"),
    // containers, orchestration and cloud platforms
    (2377, "docker-swarm"),
    (7946, "docker-swarm-gossip"),
    (10249, "kube-proxy-metrics"),
    (10256, "kube-proxy-health"),
    (10257, "kube-controller-manager"),
    (10259, "kube-scheduler"),
    (10251, "kube-scheduler-legacy"),
    (10252, "kube-controller-legacy"),
    (9345, "rke2-supervisor"),
    (16443, "microk8s-api"),
    (6783, "weave"),
    (179, "bgp"),
    (4646, "nomad-http"),
    (4647, "nomad-rpc"),
    (4648, "nomad-serf"),
    (8300, "consul-rpc"),
    (8301, "consul-serf-lan"),
    (8302, "consul-serf-wan"),
    (8501, "consul-https"),
    (8502, "consul-grpc"),
    (8600, "consul-dns"),
    (8201, "vault-cluster"),
    (9901, "envoy-admin"),
    (35357, "keystone-admin"),
    (8774, "nova-api"),
    (9292, "glance-api"),
    (9696, "neutron-api"),
    (8776, "cinder-api"),
    (6080, "novnc"),
    // virtualisation and hyper-converged platforms
    (902, "vmware-authd"),
    (5480, "vami"),
    (2179, "vmrdp"),
    (8006, "proxmox"),
    (8007, "proxmox-backup"),
    (9440, "nutanix-prism"),
    // Hadoop, Spark and data science tools
    (9870, "hdfs-namenode-http"),
    (50070, "hdfs-namenode-http-legacy"),
    (8020, "hdfs-namenode"),
    (9864, "hdfs-datanode-http"),
    (50075, "hdfs-datanode-http-legacy"),
    (9866, "hdfs-datanode"),
    (50010, "hdfs-datanode-legacy"),
    (8032, "yarn-resourcemanager"),
    (8042, "yarn-nodemanager"),
    (19888, "mapreduce-jobhistory"),
    (16000, "hbase-master"),
    (16010, "hbase-master-http"),
    (16020, "hbase-regionserver"),
    (16030, "hbase-regionserver-http"),
    (9083, "hive-metastore"),
    (10002, "hiveserver2-http"),
    (7077, "spark-master"),
    (4040, "spark-ui"),
    (18080, "spark-history"),
    (8998, "livy"),
    (6006, "tensorboard"),
    (8787, "rstudio"),
    (8265, "ray-dashboard"),
    (11434, "ollama"),
    (7860, "gradio"),
    // source control, CI/CD, configuration management, developer tools
    (9418, "git"),
    (3690, "svn"),
    (2401, "cvspserver"),
    (1666, "perforce"),
    (3632, "distcc"),
    (8140, "puppet"),
    (4505, "salt-publish"),
    (4506, "salt-request"),
    (8065, "mattermost"),
    (8069, "odoo"),
    (8834, "nessus"),
    // remote access, network device and out-of-band management
    (2222, "ssh-alt"),
    (830, "netconf-ssh"),
    (6513, "netconf-tls"),
    (992, "telnets"),
    (5800, "vnc-http"),
    (5801, "vnc-http-1"),
    (5902, "vnc-2"),
    (5903, "vnc-3"),
    (5938, "teamviewer"),
    (4899, "radmin"),
    (5631, "pcanywheredata"),
    (1494, "citrix-ica"),
    (2598, "citrix-cgp"),
    (3283, "net-assistant"), // Apple Remote Desktop
    (6129, "dameware"),
    (16992, "amt-soap-http"),
    (16993, "amt-soap-https"),
    (16994, "amt-redir-tcp"),
    (16995, "amt-redir-tls"),
    (1311, "dell-openmanage"),
    (8728, "mikrotik-api"),
    (8729, "mikrotik-api-ssl"),
    (541, "fortinet-fgfm"),
    (943, "openvpn-as"),
    (2601, "zebra"),
    (2602, "ripd"),
    (2603, "ripngd"),
    (2604, "ospfd"),
    (2605, "bgpd"),
    (2600, "zebrasrv"),
    // hosting control panels
    (2082, "cpanel"),
    (2083, "cpanel-ssl"),
    (2086, "whm"),
    (2087, "whm-ssl"),
    (2095, "cpanel-webmail"),
    (2096, "cpanel-webmail-ssl"),
    // X11 displays :1 to :7 (6006, display :6, is listed as TensorBoard) and the X font server
    (6001, "x11-1"),
    (6002, "x11-2"),
    (6003, "x11-3"),
    (6004, "x11-4"),
    (6005, "x11-5"),
    (6007, "x11-7"),
    (7100, "font-service"),
    // VPN, proxies and anonymity networks
    (1194, "openvpn"),
    (8118, "privoxy"),
    (9050, "tor-socks"),
    (9051, "tor-control"),
    (9150, "tor-browser-socks"),
    (9001, "tor-orport"),
    (9030, "tor-dirport"),
    // Windows and Active Directory services
    (3269, "msft-gc-ssl"),
    (9389, "adws"),
    (1801, "msmq"),
    (5722, "dfsr"),
    (8530, "wsus"),
    (8531, "wsus-ssl"),
    (1688, "kms"),
    (2383, "ms-olap4"),
    (4022, "sql-service-broker"),
    (5357, "wsdapi"),
    (2869, "icslap"),
    (7680, "delivery-optimization"),
    (2701, "sccm-remote-control"),
    // SAP
    (3200, "sap-dispatcher"),
    (3300, "sap-gateway"),
    (3600, "sap-message-server"),
    (3299, "saprouter"),
    (50013, "sapstartsrv"),
    (50014, "sapstartsrv-ssl"),
    // mail, chat and collaboration
    (2525, "smtp-alt"),
    (4190, "sieve"),
    (109, "pop2"),
    (220, "imap3"),
    (119, "nntp"),
    (563, "nntps"),
    (194, "irc"),
    (994, "ircs"),
    (6665, "irc"),
    (6666, "irc"),
    (6668, "irc"),
    (6669, "irc"),
    (6697, "ircs-u"),
    (1863, "msnp"),
    (5190, "aol"),
    (3478, "stun"),
    (5349, "stuns"),
    (8448, "matrix-federation"),
    // voice and video
    (1720, "h323hostcall"),
    (2000, "cisco-sccp"),
    (5038, "asterisk-ami"),
    (1935, "rtmp"),
    (8554, "rtsp-alt"),
    // printers and UPS
    (515, "printer"),
    (3493, "nut"),
    (3551, "apcupsd"),
    // storage, NAS, file sharing, media and home
    (548, "afp"),
    (3260, "iscsi-target"),
    (860, "iscsi"),
    (20048, "mountd"),
    (4045, "lockd"),
    (20, "ftp-data"),
    (989, "ftps-data"),
    (990, "ftps"),
    (6881, "bittorrent"),
    (22000, "syncthing"),
    (8384, "syncthing-gui"),
    (32400, "plex"),
    (8096, "jellyfin"),
    (3689, "daap"),
    (62078, "iphone-sync"),
    (1400, "sonos"),
    (8123, "home-assistant"),
    // industrial control and building automation (second tier)
    (1962, "pcworx"),
    (20547, "proconos"),
    (18245, "ge-srtp"),
    (789, "redlion-crimson"),
    (5094, "hart-ip"),
    (4911, "niagara-fox-tls"),
    (34962, "profinet-rt"),
    (34963, "profinet-rtm"),
    (34964, "profinet-cm"),
    (48898, "beckhoff-ads"),
    (1089, "ff-annunc"),
    (1090, "ff-fms"),
    (1091, "ff-sm"),
    (10001, "veeder-root-atg"),
    // classic Internet services in the system port range
    (7, "echo"),
    (9, "discard"),
    (11, "systat"),
    (13, "daytime"),
    (15, "netstat"),
    (17, "qotd"),
    (19, "chargen"),
    (37, "time"),
    (43, "whois"),
    (49, "tacacs"),
    (70, "gopher"),
    (79, "finger"),
    (113, "ident"),
    (427, "svrloc"),
    (444, "snpp"),
    (540, "uucp"),
    (543, "klogin"),
    (544, "kshell"),
    (646, "ldp"),
    (749, "kerberos-adm"),
    (853, "domain-s"),
    // game, voice-chat and peer-to-peer servers
    (25565, "minecraft"),
    (25575, "minecraft-rcon"),
    (27015, "srcds"),
    (3724, "blizzard"),
    (6112, "dtspc"),
    (10011, "teamspeak-query"),
    (30033, "teamspeak-files"),
    (64738, "mumble"),
    (30120, "fivem"),
    (6346, "gnutella"),
    // blockchain nodes
    (8333, "bitcoin"),
    (8332, "bitcoin-rpc"),
    (18333, "bitcoin-testnet"),
    (30303, "ethereum-p2p"),
    (8545, "ethereum-rpc"),
    (8546, "ethereum-ws"),
    (9735, "lightning"),
    (26656, "tendermint-p2p"),
    (26657, "tendermint-rpc"),
];

// ---------------------------------------------------------------------------------------------
// Compile-time construction of the lists and the name index
// ---------------------------------------------------------------------------------------------

const fn tier_ports<const N: usize>(tier: &[(u16, &str)]) -> [u16; N] {
    assert!(tier.len() == N, "tier length mismatch");
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        out[i] = tier[i].0;
        i += 1;
    }
    out
}

/// Append a curated tier, refusing port 0 and duplicates (a compile error, since this runs in a
/// constant). Returns the new length.
const fn add_tier(tier: &[(u16, &str)], out: &mut [u16; 1000], seen: &mut [bool; 65536], mut n: usize) -> usize {
    let mut i = 0;
    while i < tier.len() {
        let port = tier[i].0;
        assert!(port != 0, "port 0 in a curated tier");
        assert!(!seen[port as usize], "duplicate port in the curated tiers");
        assert!(n < 1000, "the curated tiers hold more than 1000 ports");
        seen[port as usize] = true;
        out[n] = port;
        n += 1;
        i += 1;
    }
    n
}

/// TIER_1, TIER_2, then the remaining ports ascending from 1 until there are exactly 1000.
const fn build_top_1000() -> [u16; 1000] {
    let mut out = [0u16; 1000];
    let mut seen = [false; 65536];
    let mut n = add_tier(&TIER_1, &mut out, &mut seen, 0);
    n = add_tier(TIER_2, &mut out, &mut seen, n);
    let mut port: usize = 1;
    while n < 1000 {
        assert!(port <= 65535, "ran out of ports");
        if !seen[port] {
            seen[port] = true;
            out[n] = port as u16;
            n += 1;
        }
        port += 1;
    }
    out
}

const NAMED_LEN: usize = TIER_1.len() + TIER_2.len();

/// Both tiers, sorted by port, for [`service_name`].
static SERVICE_NAMES: [(u16, &str); NAMED_LEN] = sorted_names();

const fn sorted_names() -> [(u16, &'static str); NAMED_LEN] {
    let mut out = [(0u16, ""); NAMED_LEN];
    let mut n = 0;
    while n < TIER_1.len() {
        out[n] = TIER_1[n];
        n += 1;
    }
    while n < NAMED_LEN {
        out[n] = TIER_2[n - TIER_1.len()];
        n += 1;
    }
    // insertion sort
    let mut i = 1;
    while i < NAMED_LEN {
        let mut j = i;
        while j > 0 && out[j - 1].0 > out[j].0 {
            let tmp = out[j];
            out[j] = out[j - 1];
            out[j - 1] = tmp;
            j -= 1;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    // ----- the lists -----

    #[test]
    fn list_lengths_and_uniqueness() {
        assert_eq!(TOP_100.len(), 100);
        assert_eq!(TOP_1000.len(), 1000);
        assert_eq!(TOP_100.iter().collect::<HashSet<_>>().len(), 100);
        assert_eq!(TOP_1000.iter().collect::<HashSet<_>>().len(), 1000);
        assert!(!TOP_100.contains(&0));
        assert!(!TOP_1000.contains(&0));
        assert_eq!(&TOP_1000[..100], &TOP_100[..]);
    }

    #[test]
    fn tiers_are_unique_and_named() {
        let mut seen = HashSet::new();
        for &(port, name) in TIER_1.iter().chain(TIER_2) {
            assert!(port != 0);
            assert!(seen.insert(port), "duplicate port {port}");
            let well_formed = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            assert!(!name.is_empty() && well_formed, "bad name {name:?} for {port}");
            assert_eq!(service_name(port), Some(name));
        }
        // the curated tiers come first in TOP_1000, in table order
        let curated: Vec<u16> = TIER_1.iter().chain(TIER_2).map(|&(p, _)| p).collect();
        assert!(curated.len() < 1000);
        assert_eq!(&TOP_1000[..curated.len()], &curated[..]);
    }

    #[test]
    fn fill_is_the_remaining_low_ports_ascending() {
        let curated: HashSet<u16> = TIER_1.iter().chain(TIER_2).map(|&(p, _)| p).collect();
        let fill = &TOP_1000[curated.len()..];
        assert!(!fill.is_empty());
        let last = *fill.last().unwrap();
        let expected: Vec<u16> = (1..=last).filter(|p| !curated.contains(p)).collect();
        assert_eq!(fill, &expected[..]);
        assert!(fill.iter().all(|&p| service_name(p).is_none()));
    }

    #[test]
    fn risky_and_everyday_ports_are_in_top_100() {
        let risk = [
            445, 3389, 23, 2323, 21, 22, 135, 139, 5900, 5985, 6379, 27017, 9200, 2375, 10250, 2379, 1883, 554, 37777,
            34567, 8000, 502, 102, 20000, 3306, 5432, 1433, 11211,
        ];
        for p in risk {
            assert!(TOP_100.contains(&p), "{p} missing from TOP_100");
        }
        let everyday = [80, 443, 8080, 8443, 53, 465, 587, 993, 995, 8888, 9090, 3000, 5000, 8081];
        for p in everyday {
            assert!(TOP_100.contains(&p), "{p} missing from TOP_100");
        }
        // risky exposures come before everyday services
        let pos = |p: u16| TOP_100.iter().position(|&x| x == p).unwrap();
        assert_eq!(&TOP_100[..2], &[445, 3389]);
        assert!(risk.iter().all(|&r| pos(r) < pos(80)));
    }

    #[test]
    fn second_tier_examples_are_in_top_1000() {
        for p in [
            5060, 5061, 515, 631, 9100, 1194, 1723, 9092, 2181, 5672, 15672, 5601, 9042, 7474, 8086, 8500, 8200, 9000,
            8089, 10000, 2082, 2083, 2086, 2087, 3268, 3269, 8001, 8010, 8085, 8090, 9443,
        ] {
            assert!(TOP_1000.contains(&p), "{p} missing from TOP_1000");
        }
    }

    #[test]
    fn named_sets_and_service_names() {
        assert_eq!(named_set("top-100"), Some(&TOP_100[..]));
        assert_eq!(named_set("TOP-1000"), Some(&TOP_1000[..]));
        assert_eq!(named_set("top-5000"), None);
        assert_eq!(named_set("all"), None);
        assert_eq!(service_name(22), Some("ssh"));
        assert_eq!(service_name(23), Some("telnet"));
        assert_eq!(service_name(445), Some("microsoft-ds"));
        assert_eq!(service_name(3389), Some("ms-wbt-server"));
        assert_eq!(service_name(102), Some("iso-tsap"));
        assert_eq!(service_name(502), Some("modbus"));
        assert_eq!(service_name(20000), Some("dnp3"));
        assert_eq!(service_name(10250), Some("kubelet"));
        assert_eq!(service_name(2379), Some("etcd-client"));
        assert_eq!(service_name(6379), Some("redis"));
        assert_eq!(service_name(443), Some("https"));
        assert_eq!(service_name(0), None);
        assert_eq!(service_name(1), None);
        assert_eq!(service_name(65535), None);
        assert!(SERVICE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
