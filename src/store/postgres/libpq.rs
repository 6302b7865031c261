//! What tokio-postgres does not take of libpq's connection strings: the verifying
//! `sslmode`s and the certificate files, as cloud providers' guides write them.

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use tokio_postgres::config::SslMode;

use super::tls::Given;
use crate::store::StoreError;
use crate::store::tls::Pem;

/// The certificate files a connection string names, read at connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Files {
    roots: Option<Roots>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// Which roots `sslrootcert` names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Roots {
    /// libpq's `system`: the usual public roots.
    Public,
    File(PathBuf),
}

/// A connection string with libpq's certificate-file keys taken out (and the verifying
/// modes read as `require`, where the certificate is always verified), for
/// tokio-postgres; and the files they named. A string that does not follow libpq's
/// grammar is left whole, for tokio-postgres to refuse.
pub(super) fn split(url: &str) -> (String, Files) {
    let mut files = Files::default();
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query.split('&').filter(|p| !files.take(p)).collect();
                match kept.is_empty() {
                    true => base.to_owned(),
                    false => format!("{base}?{}", kept.join("&")),
                }
            }
            None => url.to_owned(),
        }
    } else {
        files.take_key_values(url)
    };
    let rest = rest
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    (rest, files)
}

impl Files {
    /// Takes one `key=value` of a URL's query if its key names a file.
    fn take(&mut self, pair: &str) -> bool {
        let Some((key, value)) = pair.split_once('=') else {
            return false;
        };
        match percent_decode_str(value).decode_utf8() {
            Ok(value) => self.set(key, &value),
            // Not a path this store can name: left for tokio-postgres to refuse.
            Err(_) => false,
        }
    }

    /// Takes the file keys out of a `key=value` string; the rest as it was written.
    fn take_key_values(&mut self, s: &str) -> String {
        let mut files = Files::default();
        let mut kept = String::with_capacity(s.len());
        let mut rest = s;
        loop {
            let pair = rest.trim_start();
            kept.push_str(&rest[..rest.len() - pair.len()]);
            if pair.is_empty() {
                break;
            }
            let Some((len, key, value)) = first_pair(pair) else {
                return s.to_owned();
            };
            if !files.set(key, &value) {
                kept.push_str(&pair[..len]);
            }
            rest = &pair[len..];
        }
        *self = files;
        kept
    }

    /// Keeps `value` if `key` names a file (an empty value names none, as in libpq).
    fn set(&mut self, key: &str, value: &str) -> bool {
        let path = (!value.is_empty()).then(|| PathBuf::from(value));
        match key {
            "sslrootcert" => {
                self.roots = path.map(|p| match value {
                    "system" => Roots::Public,
                    _ => Roots::File(p),
                });
            }
            "sslcert" => self.cert = path,
            "sslkey" => self.key = path,
            _ => return false,
        }
        true
    }

    /// The certificates to connect with: the builder's and the files', read now. A file
    /// given twice (in the string and to the builder), a certificate without its key,
    /// or files for a connection that would not use TLS are `Misconfigured`.
    pub(super) async fn read(&self, mut given: Given, mode: SslMode) -> Result<Given, StoreError> {
        let named = self.roots.is_some() || self.cert.is_some() || self.key.is_some();
        if named && mode != SslMode::Require {
            return Err(misconfigured(
                "sslrootcert, sslcert or sslkey name certificates but the URL does not ask \
                 for TLS: add sslmode=require (or verify-full)",
            ));
        }
        if let Some(roots) = &self.roots {
            if given.roots.is_some() {
                return Err(misconfigured(
                    "root certificates both in sslrootcert and from \
                     tls_root_certificates: give them once",
                ));
            }
            if let Roots::File(path) = roots {
                given.roots = Some(read("sslrootcert", path).await?);
            }
        }
        match (&self.cert, &self.key) {
            (None, None) => {}
            (Some(_), Some(_)) if given.client.is_some() => {
                return Err(misconfigured(
                    "a client certificate both in sslcert/sslkey and from \
                     tls_client_certificate: give it once",
                ));
            }
            (Some(cert), Some(key)) => {
                given.client = Some((read("sslcert", cert).await?, read("sslkey", key).await?));
            }
            (Some(_), None) => return Err(misconfigured("sslcert without sslkey: name its key")),
            (None, Some(_)) => return Err(misconfigured("sslkey without sslcert")),
        }
        Ok(given)
    }
}

/// The first `key = value` of `s`, which starts with its key: the pair's length, the
/// key and the value (bare or single-quoted, `\` escaping the next character).
fn first_pair(s: &str) -> Option<(usize, &str, String)> {
    let key_end = s.find(|c: char| c == '=' || c.is_whitespace())?;
    let after = s[key_end..].trim_start().strip_prefix('=')?.trim_start();
    let quoted = after.starts_with('\'');
    let mut chars = after.char_indices().skip(usize::from(quoted));
    let mut value = String::new();
    let end = loop {
        match chars.next() {
            Some((_, '\\')) => value.push(chars.next()?.1),
            Some((i, '\'')) if quoted => break i + 1,
            Some((i, c)) if !quoted && c.is_whitespace() => break i,
            Some((_, c)) => value.push(c),
            None if quoted => return None,
            None => break after.len(),
        }
    };
    Some((s.len() - after.len() + end, &s[..key_end], value))
}

/// The PEM file a key names.
async fn read(key: &str, path: &Path) -> Result<Pem, StoreError> {
    tokio::fs::read(path)
        .await
        .map(Pem::from)
        .map_err(|e| misconfigured(&format!("{key} {}: {e}", path.display())))
}

/// Why `url` did not parse, without quoting it (it may hold the password): libpq's keys
/// this store does not support are named.
pub(super) fn unparsed(url: &str) -> String {
    if url.contains("sslpassword=") {
        "sslpassword is not supported: give the client key decrypted (PEM: PKCS#8, \
         PKCS#1 or SEC1)"
            .to_owned()
    } else if let Some(key) = ["sslrootcert=", "sslcert=", "sslkey="]
        .iter()
        .find(|key| url.contains(*key))
    {
        format!(
            "{}: not a file name (percent-encoded UTF-8)",
            key.trim_end_matches('=')
        )
    } else if url.contains("sslcrl=") || url.contains("sslcrldir=") {
        "sslcrl is not supported: certificate revocation lists are not read".to_owned()
    } else {
        "not a PostgreSQL URL (postgres://user:password@host:port/database)".to_owned()
    }
}

fn misconfigured(what: &str) -> StoreError {
    StoreError::Misconfigured(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(roots: Option<&str>, cert: Option<&str>, key: Option<&str>) -> Files {
        Files {
            roots: roots.map(|r| Roots::File(r.into())),
            cert: cert.map(PathBuf::from),
            key: key.map(PathBuf::from),
        }
    }

    #[test]
    fn a_urls_file_keys_are_taken_out_and_decoded() {
        let (rest, found) = split(
            "postgres://u:p@db/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Frds%20ca.pem\
             &application_name=x&sslcert=/c.pem&sslkey=/k.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:p@db/app?sslmode=require&application_name=x"
        );
        assert_eq!(
            found,
            files(Some("/etc/ssl/rds ca.pem"), Some("/c.pem"), Some("/k.pem"))
        );
        let (rest, found) = split("postgresql://db/app?sslrootcert=system");
        assert_eq!(rest, "postgresql://db/app");
        assert_eq!(found.roots, Some(Roots::Public));
        // Nothing to take: the string as it was.
        let plain = "postgres://u:p@db/app?sslmode=require";
        assert_eq!(split(plain), (plain.to_owned(), Files::default()));
    }

    #[test]
    fn a_key_value_strings_file_keys_are_taken_out_and_the_rest_kept_as_written() {
        let (rest, found) = split(
            "host=db sslrootcert = '/etc/my ca.pem' password='a \\'b' sslkey=/k\\ 1.pem \
             sslcert=/c.pem sslmode=verify-ca",
        );
        assert_eq!(rest, "host=db  password='a \\'b'   sslmode=require");
        assert_eq!(
            found,
            files(Some("/etc/my ca.pem"), Some("/c.pem"), Some("/k 1.pem"))
        );
        // Not libpq's grammar (an open quote): whole, for tokio-postgres to refuse.
        let open = "host=db sslrootcert='/ca.pem";
        assert_eq!(split(open), (open.to_owned(), Files::default()));
        // An empty value names no file.
        assert_eq!(split("host=db sslcert=''").1, Files::default());
    }

    #[test]
    fn the_strings_tokio_postgres_reads_are_the_same_without_the_file_keys() {
        for (with, without) in [
            (
                "host=db password='a b' sslrootcert=/ca.pem dbname=x",
                "host=db password='a b' dbname=x",
            ),
            (
                "postgres://u:p%20q@db:5433/app?sslcert=/c&connect_timeout=3&sslkey=/k",
                "postgres://u:p%20q@db:5433/app?connect_timeout=3",
            ),
        ] {
            let parsed: tokio_postgres::Config = split(with).0.parse().unwrap();
            let expected: tokio_postgres::Config = without.parse().unwrap();
            assert_eq!(format!("{parsed:?}"), format!("{expected:?}"));
        }
    }

    proptest::proptest! {
        /// Any string: splitting never panics, and a string naming no file key comes
        /// back as it was (the verifying modes aside).
        #[test]
        fn splitting_never_panics(s in "[ -~]{0,80}", url in proptest::bool::ANY) {
            let s = if url { format!("postgres://{s}") } else { s };
            let (rest, found) = split(&s);
            if !s.contains("sslrootcert") && !s.contains("sslcert") && !s.contains("sslkey")
                && !s.contains("sslmode=verify")
            {
                proptest::prop_assert_eq!(rest, s);
                proptest::prop_assert_eq!(found, Files::default());
            }
        }

        /// Any value, quoted as libpq quotes it, comes back whole.
        #[test]
        fn a_quoted_value_comes_back_whole(value in "[ -~]{1,40}") {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            let (rest, found) = split(&format!("host=db sslcert='{quoted}' sslkey=k"));
            proptest::prop_assert_eq!(rest, "host=db  ");
            proptest::prop_assert_eq!(found.cert, Some(PathBuf::from(value)));
        }
    }
}
