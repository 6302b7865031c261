//! Certificates for the TLS tests: a test CA, and a server certificate it signed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A test CA and a server certificate it signed, as PEM and as files in a temporary
/// directory (removed when dropped).
pub struct TestCerts {
    pub ca: String,
    pub cert: String,
    pub key: String,
    dir: PathBuf,
    issuer: (rcgen::Certificate, rcgen::KeyPair),
}

impl TestCerts {
    /// A CA, and a certificate it signed for `names` (host names or IP addresses).
    pub fn new(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        // Names of their own: a certificate whose subject is its issuer's looks
        // self-signed to OpenSSL (redis-cli).
        ca.distinguished_name = name("kickout test CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = ca.self_signed(&ca_key).expect("a CA certificate");
        let key = rcgen::KeyPair::generate().expect("a server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("server params");
        params.distinguished_name = name("kickout test server");
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("a server certificate");
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kickout-tls-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let certs = Self {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
            dir,
            issuer: (ca, ca_key),
        };
        // And a client's, for tools that must show one (redis-cli).
        let (client, client_key) = certs.client("kickout");
        for (file, pem) in [
            ("ca.pem", &certs.ca),
            ("cert.pem", &certs.cert),
            ("key.pem", &certs.key),
            ("client.pem", &client),
            ("client-key.pem", &client_key),
        ] {
            std::fs::write(certs.dir.join(file), pem).expect("write a PEM file");
        }
        certs
    }

    /// A client certificate the CA signed for `common_name` (PostgreSQL's `cert` login
    /// takes it for the user name), with its key: (certificate, key), PEM.
    pub fn client(&self, common_name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a client key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = name(common_name);
        let (ca, ca_key) = &self.issuer;
        let cert = params
            .signed_by(&key, ca, ca_key)
            .expect("a client certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// The path of `ca.pem`, `cert.pem`, `key.pem`, `client.pem` or `client-key.pem`.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn name(common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    name
}
