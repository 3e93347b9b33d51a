//! TLS: a hand-built ClientHello identifies TLS and reads the server's first flight (version,
//! suite, and for TLS <= 1.2 the certificate chain in clear); rustls with a verifier that accepts
//! anything completes a real handshake (TLS 1.2/1.3) to record the certificate and to speak the
//! protocol inside. Two more hand-built ClientHellos test TLS 1.0/1.1 and weak suites, which
//! rustls rightly refuses to offer.
use super::conn::{self, Conn};
use super::text;
use super::{Check, Ctx, Hit, Probe, TlsInfo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, OnceLock};
use super::registry::Protocol;

pub const PROBE: Probe = Probe {
    name: "tls",
    ports: &[
        (261, 261),
        (443, 443),
        (465, 465),
        (563, 563),
        (636, 636),
        (853, 853),
        (989, 995),
        (2376, 2376),
        (3269, 3269),
        (5061, 5061),
        (5986, 5986),
        (6443, 6443),
        (6697, 6697),
        (8443, 8443),
        (8883, 8883),
        (9443, 9443),
        (10250, 10250),
    ],
    request: |_| client_hello(TLS12, STRONG_AND_LEGACY),
    done: flight_done,
    parse,
};

const TLS10: u16 = 0x0301;
const TLS11: u16 = 0x0302;
const TLS12: u16 = 0x0303;
/// Bytes of a server's first flight we are willing to read (certificate chains can be long).
const FLIGHT_CAP: usize = 48 * 1024;

/// (IANA id, name, weak) of the suites the hand-built hellos offer.
const SUITES: &[(u16, &str, bool)] = &[
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", false),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", false),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", false),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", false),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", false),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", false),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", false),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", false),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", true),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", true),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", true),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", true),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA", true),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5", true),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA", true),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", true),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", true),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", true),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", true),
    (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", true),
    (0x0001, "TLS_RSA_WITH_NULL_MD5", true),
    (0x0002, "TLS_RSA_WITH_NULL_SHA", true),
    (0x003b, "TLS_RSA_WITH_NULL_SHA256", true),
    (0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA", true),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", true),
    (0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", true),
    (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", true),
    (0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA", true),
    (0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", true),
    (0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA", true),
];

#[derive(Clone, Copy)]
enum Offer {
    All,
    WeakOnly,
}
const STRONG_AND_LEGACY: Offer = Offer::All;

pub fn suite_name(id: u16) -> String {
    SUITES.iter().find(|s| s.0 == id).map_or_else(|| format!("0x{id:04x}"), |s| s.1.to_string())
}

pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        TLS10 => "TLSv1.0".into(),
        TLS11 => "TLSv1.1".into(),
        TLS12 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

fn ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// A ClientHello record offering versions up to `max` (no supported_versions extension).
fn client_hello(max: u16, offer: Offer) -> Vec<u8> {
    let suites: Vec<u16> = SUITES.iter().filter(|s| matches!(offer, Offer::All) || s.2).map(|s| s.0).collect();
    let mut body = Vec::with_capacity(256);
    body.extend_from_slice(&max.to_be_bytes());
    let random: [u8; 32] = rand::random();
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&((suites.len() * 2 + 2) as u16).to_be_bytes());
    for s in &suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&0x00ffu16.to_be_bytes()); // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    ext(&mut exts, 0x000a, &[0, 10, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19, 0x01, 0x00]);
    ext(&mut exts, 0x000b, &[1, 0]);
    let sigs: [u16; 11] = [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0603, 0x0201, 0x0203];
    let mut s = ((sigs.len() * 2) as u16).to_be_bytes().to_vec();
    sigs.iter().for_each(|x| s.extend_from_slice(&x.to_be_bytes()));
    ext(&mut exts, 0x000d, &s);
    ext(&mut exts, 0x0017, &[]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// What the server's first flight said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flight {
    /// Negotiated version and suite, from the ServerHello.
    pub hello: Option<(u16, u16)>,
    /// DER certificates (TLS <= 1.2 only: later versions encrypt them).
    pub certs: Vec<Vec<u8>>,
    /// (level, description) of an alert.
    pub alert: Option<(u8, u8)>,
    /// ServerHelloDone seen, or the flight ended otherwise.
    pub done: bool,
}

/// Parse the records of a server's first flight. None when the bytes are not TLS at all.
pub fn parse_flight(d: &[u8]) -> Option<Flight> {
    let mut f = Flight::default();
    let mut hs = Vec::new();
    let mut at = 0;
    let mut records = 0;
    while let (Some(&kind), Some(ver), Some(len)) = (d.get(at), text::be16(d, at + 1), text::be16(d, at + 3)) {
        let len = usize::from(len);
        if !(0x0300..=0x0304).contains(&ver) || len > 18_432 || !matches!(kind, 20..=23) {
            return (records > 0).then_some(f);
        }
        if records == 0 && !matches!(kind, 21 | 22) {
            return None;
        }
        let Some(frag) = d.get(at + 5..at + 5 + len) else { break };
        records += 1;
        match kind {
            21 if len == 2 => {
                if !matches!(frag[0], 1 | 2) {
                    return (records > 1).then_some(f);
                }
                f.alert = Some((frag[0], frag[1]));
                f.done = true;
            }
            22 => hs.extend_from_slice(frag),
            _ => f.done = true,
        }
        at += 5 + len;
        if f.done {
            break;
        }
    }
    if records == 0 {
        return None;
    }
    let mut p = 0;
    while let (Some(&t), Some(n)) = (hs.get(p), text::be24(&hs, p + 1)) {
        let Some(msg) = hs.get(p + 4..p + 4 + n) else { break };
        match t {
            2 => f.hello = Some(server_hello(msg)?),
            11 => f.certs = certificates(msg),
            14 => f.done = true,
            _ => {}
        }
        if p == 0 && t != 2 {
            return None;
        }
        p += 4 + n;
    }
    Some(f)
}

fn server_hello(m: &[u8]) -> Option<(u16, u16)> {
    let mut version = text::be16(m, 0)?;
    if !(0x0300..=0x0304).contains(&version) {
        return None;
    }
    let sid = usize::from(*m.get(34)?);
    if sid > 32 {
        return None;
    }
    let suite = text::be16(m, 35 + sid)?;
    let mut at = 35 + sid + 3;
    if let Some(total) = text::be16(m, at) {
        at += 2;
        let end = (at + usize::from(total)).min(m.len());
        while let (Some(kind), Some(len)) = (text::be16(m, at), text::be16(m, at + 2)) {
            if at + 4 + usize::from(len) > end {
                break;
            }
            if kind == 0x002b {
                version = text::be16(m, at + 4)?;
            }
            at += 4 + usize::from(len);
        }
    }
    Some((version, suite))
}

fn certificates(m: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Some(total) = text::be24(m, 0) else { return out };
    let list = &m[3..(3 + total).min(m.len())];
    let mut at = 0;
    while let Some(n) = text::be24(list, at) {
        let Some(der) = list.get(at + 3..at + 3 + n) else { break };
        out.push(der.to_vec());
        at += 3 + n;
        if out.len() >= 10 {
            break;
        }
    }
    out
}

/// The first flight is complete: ServerHelloDone, an alert, or something past the handshake.
pub fn flight_done(d: &[u8]) -> bool {
    parse_flight(d).is_some_and(|f| f.done || f.hello.is_some_and(|(v, _)| v == 0x0304))
}

pub fn parse(d: &[u8]) -> Option<Hit> {
    let f = parse_flight(d)?;
    match (f.hello, f.alert) {
        (Some((v, _)), _) => {
            let mut hit = Hit::new("tls", 10);
            hit.extrainfo = Some(version_name(v));
            Some(hit)
        }
        (None, Some((level, desc))) if d.len() == 7 || desc == 70 || desc == 40 || level == 2 => {
            Some(Hit::new("tls", 8))
        }
        _ => None,
    }
}

/// Facts read from a DER certificate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub self_signed: bool,
}

pub fn cert_facts(der: &[u8]) -> Option<CertFacts> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    let (mut aki, mut ski) = (None, None);
    for e in cert.extensions() {
        match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for g in san.general_names.iter().take(100) {
                    match g {
                        GeneralName::DNSName(n) => sans.push(format!("DNS:{n}")),
                        GeneralName::IPAddress(b) => {
                            let ip = match b.len() {
                                4 => <[u8; 4]>::try_from(*b).ok().map(|a| std::net::IpAddr::from(a).to_string()),
                                16 => <[u8; 16]>::try_from(*b).ok().map(|a| std::net::IpAddr::from(a).to_string()),
                                _ => None,
                            };
                            if let Some(ip) = ip {
                                sans.push(format!("IP:{ip}"));
                            }
                        }
                        GeneralName::RFC822Name(n) => sans.push(format!("email:{n}")),
                        GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                        _ => {}
                    }
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|k| k.0.to_vec()),
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            _ => {}
        }
    }
    let same_name = cert.subject().as_raw() == cert.issuer().as_raw();
    let self_signed = same_name && (aki.is_none() || aki == ski);
    Some(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        self_signed,
    })
}

#[derive(Debug)]
struct AcceptAll(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // A scanner records certificates; judging them is the checks' business.
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// The rustls configuration used for every TLS connection of the probes.
pub fn config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let schemes = provider.signature_verification_algorithms.supported_schemes();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .unwrap_or_else(|_| ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12]));
        let mut cfg =
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAll(schemes))).with_no_client_auth();
        cfg.enable_sni = false;
        Arc::new(cfg)
    }))
}

/// The service name of a protocol spoken inside TLS.
pub fn inner_name(name: &str) -> String {
    match name {
        "http" => "https".into(),
        "imap" => "imaps".into(),
        "pop3" => "pop3s".into(),
        "smtp" => "smtps".into(),
        "ftp" => "ftps".into(),
        "ldap" => "ldaps".into(),
        "mqtt" => "mqtts".into(),
        "ssl" | "https" | "elasticsearch" | "couchdb" | "docker" | "kubelet" | "kubernetes" | "etcd" | "winrm" => {
            name.into()
        }
        other => format!("ssl/{other}"),
    }
}

fn protocol_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// Send one hand-built hello on a fresh connection and read the first flight.
async fn raw_hello(ctx: &Ctx<'_>, hello: &[u8]) -> Option<Flight> {
    let mut c = conn::connect(ctx.addr, ctx.deadline, std::time::Duration::from_secs(2)).await?;
    if !c.send(hello).await {
        return Some(Flight::default());
    }
    let d = c.read(ctx.check_wait(), FLIGHT_CAP, flight_done).await;
    Some(parse_flight(d).unwrap_or_default())
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub async fn followup(ctx: &Ctx<'_>, first: Conn) {
    let flight = parse_flight(&first.buf).unwrap_or_default();
    drop(first);
    let mut info = TlsInfo::default();
    if let Some((v, s)) = flight.hello {
        info.version = Some(version_name(v));
        info.cipher = Some(suite_name(s));
    }
    let mut chain: Vec<Vec<u8>> = flight.certs.clone();
    // A real handshake: version and suite as a modern client gets them, and the chain under TLS 1.3.
    let session = match conn::connect(ctx.addr, ctx.deadline, std::time::Duration::from_secs(2)).await {
        Some(c) => c.into_tls(config()).await,
        None => None,
    };
    if let Some(s) = session.as_ref().and_then(Conn::tls_session) {
        if let Some(v) = s.protocol_version() {
            info.version = Some(protocol_name(v));
        }
        if let Some(cs) = s.negotiated_cipher_suite() {
            info.cipher = Some(format!("{:?}", cs.suite()));
        }
        if let Some(certs) = s.peer_certificates() {
            chain = certs.iter().map(|c| c.as_ref().to_vec()).collect();
        }
    }
    drop(session);
    let facts = chain.first().and_then(|der| cert_facts(der));
    if let Some(f) = &facts {
        info.subject = Some(f.subject.clone());
        info.issuer = Some(f.issuer.clone());
        info.sans = f.sans.clone();
        info.not_before = Some(text::rfc3339(f.not_before));
        info.not_after = Some(text::rfc3339(f.not_after));
        info.self_signed = f.self_signed;
        info.expired = f.not_after < now_unix();
    }
    ctx.set_tls(info.clone());
    cert_checks(ctx, facts.as_ref());
    // Weak versions and suites, concurrently with identifying what is spoken inside.
    tokio::join!(weak_checks(ctx), super::identify_inside_tls(ctx));
}

fn cert_checks(ctx: &Ctx<'_>, facts: Option<&CertFacts>) {
    let expired_t = "TLS certificate has expired";
    let self_t = "TLS certificate is self-signed";
    let Some(f) = facts else {
        ctx.check(Check::new("tls-expired", None, expired_t).with("reason", "no certificate received"));
        ctx.check(Check::new("tls-self-signed", None, self_t).with("reason", "no certificate received"));
        return;
    };
    let now = now_unix();
    ctx.check(
        Check::new("tls-expired", Some(f.not_after < now), expired_t)
            .with("not_after", text::rfc3339(f.not_after))
            .with("subject", f.subject.clone()),
    );
    ctx.check(
        Check::new("tls-self-signed", Some(f.self_signed), self_t)
            .with("subject", f.subject.clone())
            .with("issuer", f.issuer.clone()),
    );
}

async fn weak_checks(ctx: &Ctx<'_>) {
    let legacy = client_hello(TLS11, Offer::All);
    let weak = client_hello(TLS12, Offer::WeakOnly);
    let (old, suites) = tokio::join!(raw_hello(ctx, &legacy), raw_hello(ctx, &weak));
    let vt = "TLS 1.0 or 1.1 is accepted";
    ctx.check(match old {
        Some(Flight { hello: Some((v, s)), .. }) => Check::new("tls-weak-protocol", Some(v <= TLS11), vt)
            .with("offered", "TLSv1.0-TLSv1.1")
            .with("accepted", version_name(v))
            .with("cipher", suite_name(s)),
        Some(Flight { alert: Some((_, d)), .. }) => Check::new("tls-weak-protocol", Some(false), vt)
            .with("offered", "TLSv1.0-TLSv1.1")
            .with("alert", d.to_string()),
        Some(_) => {
            Check::new("tls-weak-protocol", Some(false), vt).with("offered", "TLSv1.0-TLSv1.1").with("reply", "closed")
        }
        None => Check::new("tls-weak-protocol", None, vt).with("reason", "could not connect"),
    });
    let ct = "Weak TLS cipher suites (RC4, 3DES, DES, export, NULL, anonymous) are accepted";
    ctx.check(match suites {
        Some(Flight { hello: Some((v, s)), .. }) => {
            let weak = SUITES.iter().any(|x| x.0 == s && x.2);
            Check::new("tls-weak-cipher", Some(weak), ct)
                .with("accepted", suite_name(s))
                .with("version", version_name(v))
        }
        Some(Flight { alert: Some((_, d)), .. }) => {
            Check::new("tls-weak-cipher", Some(false), ct).with("alert", d.to_string())
        }
        Some(_) => Check::new("tls-weak-cipher", Some(false), ct).with("reply", "closed"),
        None => Check::new("tls-weak-cipher", None, ct).with("reason", "could not connect"),
    });
}

pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "tls",
    names: &["tls"],
    probes: &[PROBE],
    followup: Some(|ctx, _, conn| Box::pin(followup(ctx, conn))),
    ..Protocol::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    pub fn server_flight(version: u16, suite: u16, cert: &[u8]) -> Vec<u8> {
        let mut sh = version.to_be_bytes().to_vec();
        sh.extend_from_slice(&[0u8; 32]);
        sh.push(0);
        sh.extend_from_slice(&suite.to_be_bytes());
        sh.push(0);
        let mut hs = vec![2];
        hs.extend_from_slice(&(sh.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&sh);
        let mut certs = (cert.len() as u32).to_be_bytes()[1..].to_vec();
        certs.extend_from_slice(cert);
        let mut cm = ((certs.len()) as u32).to_be_bytes()[1..].to_vec();
        cm.extend_from_slice(&certs);
        hs.push(11);
        hs.extend_from_slice(&(cm.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&cm);
        hs.extend_from_slice(&[14, 0, 0, 0]);
        let mut rec = vec![22, 3, 3];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn flights() {
        let hello = client_hello(TLS12, Offer::All);
        assert_eq!(&hello[..3], &[22, 3, 1]);
        assert_eq!(usize::from(u16::from_be_bytes([hello[3], hello[4]])), hello.len() - 5);
        let d = server_flight(TLS12, 0xc02f, b"not-a-real-cert");
        assert!(flight_done(&d));
        let f = parse_flight(&d).unwrap();
        assert_eq!(f.hello, Some((TLS12, 0xc02f)));
        assert_eq!(f.certs, vec![b"not-a-real-cert".to_vec()]);
        assert_eq!(parse(&d).unwrap().extrainfo.as_deref(), Some("TLSv1.2"));
        assert!(!flight_done(&d[..20]));
        let alert = [21, 3, 3, 0, 2, 2, 70];
        assert_eq!(parse_flight(&alert).unwrap().alert, Some((2, 70)));
        assert!(parse(&alert).is_some());
        assert!(parse(b"HTTP/1.1 400 Bad Request\r\n").is_none());
        assert_eq!(suite_name(0x000a), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
        assert_eq!(inner_name("http"), "https");
        assert_eq!(inner_name("redis"), "ssl/redis");
    }
}
