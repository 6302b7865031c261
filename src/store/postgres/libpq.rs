//! What tokio-postgres does not take of libpq's connection strings: the verifying
//! `sslmode`s and the certificate files, as cloud providers' guides write them.

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use tokio_postgres::config::SslMode;

use super::tls::Given;
use crate::store::contract::StoreError;
use crate::store::tls::Pem;

/// The certificate files a connection string names, read at connect.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Files {
    roots: Option<Roots>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// Which roots `sslrootcert` names.
#[derive(Debug, PartialEq, Eq)]
enum Roots {
    /// libpq's `system`: the public roots (Mozilla's, as `webpki-roots` ships them).
    Public,
    File(PathBuf),
}

/// A connection string with libpq's certificate-file keys taken out and the verifying
/// `sslmode`s read as `require` (where the certificate is always verified), for
/// tokio-postgres; and the files they named. Pairs are read as tokio-postgres reads
/// them, so nothing else changes; a string that does not follow the grammar is left
/// whole, for tokio-postgres to refuse.
pub(super) fn split(url: &str) -> (String, Files) {
    let mut split = Splitter::default();
    let mut rest = match url_parts(url) {
        Some((head, Some(query))) => split.query(head, query),
        Some((head, None)) => head.to_owned(),
        None => split.key_values(url),
    };
    // libpq: `sslrootcert=system` asks for a verified connection unless `sslmode` says.
    if split.files.roots == Some(Roots::Public) && !split.sslmode {
        let joint = match url_parts(&rest) {
            Some((_, Some(""))) => "",
            Some((_, Some(_))) => "&",
            Some((_, None)) => "?",
            None => " ",
        };
        rest.push_str(joint);
        rest.push_str("sslmode=require");
    }
    (rest, split.files)
}

/// A URL's part before its query, and the query: as tokio-postgres reads it, the
/// credentials end at the first `@`, and the query starts at the next `?`. `None` for
/// a `key=value` string.
fn url_parts(url: &str) -> Option<(&str, Option<&str>)> {
    let after = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))?;
    let from = url.len() - after.len() + after.find('@').map_or(0, |at| at + 1);
    Some(match url[from..].find('?') {
        Some(q) => (&url[..from + q], Some(&url[from + q + 1..])),
        None => (url, None),
    })
}

/// What the splitter does with one pair.
enum Pair {
    Keep,
    Take,
    /// `sslmode=verify-full` or `verify-ca`: `sslmode=require`.
    Require,
}

#[derive(Default)]
struct Splitter {
    files: Files,
    /// Whether the string says `sslmode`.
    sslmode: bool,
}

impl Splitter {
    /// A URL without the file keys of its query (keys and values percent-decoded, as
    /// tokio-postgres decodes them).
    fn query(&mut self, head: &str, query: &str) -> String {
        let decode = |s| percent_decode_str(s).decode_utf8().ok();
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let decoded = pair
                .split_once('=')
                .and_then(|(k, v)| Some((decode(k)?, decode(v)?)));
            match decoded.map_or(Pair::Keep, |(k, v)| self.pair(&k, &v)) {
                Pair::Keep => kept.push(pair),
                Pair::Take => {}
                Pair::Require => kept.push("sslmode=require"),
            }
        }
        if kept.is_empty() {
            head.to_owned()
        } else {
            format!("{head}?{}", kept.join("&"))
        }
    }

    /// A `key=value` string without its file keys; the rest as it was written.
    fn key_values(&mut self, s: &str) -> String {
        let mut kept = String::with_capacity(s.len());
        let mut rest = s;
        loop {
            let pair = rest.trim_start();
            kept.push_str(&rest[..rest.len() - pair.len()]);
            if pair.is_empty() {
                return kept;
            }
            let Some((len, key, value)) = first_pair(pair) else {
                *self = Self::default();
                return s.to_owned();
            };
            match self.pair(key, &value) {
                Pair::Keep => kept.push_str(&pair[..len]),
                Pair::Take => {}
                Pair::Require => kept.push_str("sslmode=require"),
            }
            rest = &pair[len..];
        }
    }

    /// Keeps a file's path (an empty value names none, as in libpq).
    fn pair(&mut self, key: &str, value: &str) -> Pair {
        let path = (!value.is_empty()).then(|| PathBuf::from(value));
        match key {
            "sslmode" => {
                self.sslmode = true;
                return match value {
                    "verify-full" | "verify-ca" => Pair::Require,
                    _ => Pair::Keep,
                };
            }
            "sslrootcert" => {
                self.files.roots = path.map(|p| match value {
                    "system" => Roots::Public,
                    _ => Roots::File(p),
                });
            }
            "sslcert" => self.files.cert = path,
            "sslkey" => self.files.key = path,
            _ => return Pair::Keep,
        }
        Pair::Take
    }
}

impl Files {
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
                given.roots = Some(read_pem("sslrootcert", path).await?);
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
                given.client = Some((
                    read_pem("sslcert", cert).await?,
                    read_pem("sslkey", key).await?,
                ));
            }
            (Some(_), None) => return Err(misconfigured("sslcert without sslkey: name its key")),
            (None, Some(_)) => return Err(misconfigured("sslkey without sslcert")),
        }
        Ok(given)
    }
}

/// The first `key = value` of `s`, which starts with its key, as tokio-postgres reads
/// it: the pair's length, the key and the value (bare or single-quoted, `\` escaping
/// the next character; a bare value is not empty).
fn first_pair(s: &str) -> Option<(usize, &str, String)> {
    let key_end = s
        .find(|c: char| c == '=' || c.is_whitespace())
        .filter(|&end| end > 0)?;
    let after = s[key_end..].trim_start().strip_prefix('=')?.trim_start();
    let quoted = after.starts_with('\'');
    let mut chars = after.char_indices().skip(usize::from(quoted));
    let mut value = String::new();
    let end = loop {
        match (chars.next(), quoted) {
            (Some((_, '\\')), _) => match chars.next() {
                Some((_, c)) => value.push(c),
                None if quoted => return None,
                // tokio-postgres drops a last lone backslash.
                None => break after.len(),
            },
            (Some((i, '\'')), true) => break i + 1,
            (Some((i, c)), false) if c.is_whitespace() => break i,
            (Some((_, c)), _) => value.push(c),
            (None, true) => return None,
            (None, false) => break after.len(),
        }
    };
    if !quoted && value.is_empty() {
        return None;
    }
    Some((s.len() - after.len() + end, &s[..key_end], value))
}

/// The PEM file a key names.
async fn read_pem(key: &str, path: &Path) -> Result<Pem, StoreError> {
    tokio::fs::read(path)
        .await
        .map(Pem::from)
        .map_err(|e| misconfigured(&format!("{key} {}: {e}", path.display())))
}

/// Why `url` (as [`split`] left it) did not parse, without quoting it (it may hold the
/// password): libpq's keys this store does not support are named.
pub(super) fn unparsed(url: &str) -> String {
    let file_key = ["sslrootcert=", "sslcert=", "sslkey="]
        .into_iter()
        .find(|key| url.contains(key));
    if url.contains("sslpassword=") {
        "sslpassword is not supported: give the client key decrypted (PEM: PKCS#8, \
         PKCS#1 or SEC1)"
            .to_owned()
    } else if url.contains("sslcrl=") || url.contains("sslcrldir=") {
        "sslcrl is not supported: certificate revocation lists are not read".to_owned()
    } else if let Some(key) = file_key.filter(|_| url_parts(url).is_some()) {
        // Left in a URL only when it did not decode.
        format!(
            "{}: not a file name (percent-encoded UTF-8)",
            key.trim_end_matches('=')
        )
    } else {
        "not a PostgreSQL URL (postgres://user:password@host:port/database) or key=value \
         connection string"
            .to_owned()
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
             &application_name=x&sslcert=/c.pem&ssl%6Bey=/k.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:p@db/app?sslmode=require&application_name=x"
        );
        assert_eq!(
            found,
            files(Some("/etc/ssl/rds ca.pem"), Some("/c.pem"), Some("/k.pem"))
        );
        // `system`: the public roots, and (as in libpq) a verified connection.
        let (rest, found) = split("postgresql://db/app?sslrootcert=system");
        assert_eq!(rest, "postgresql://db/app?sslmode=require");
        assert_eq!(found.roots, Some(Roots::Public));
        let (rest, _) = split("postgres://db/app?sslrootcert=system&sslmode=disable");
        assert_eq!(rest, "postgres://db/app?sslmode=disable");
        // Nothing to take: the string as it was.
        let plain = "postgres://u:p@db/app?sslmode=require";
        assert_eq!(split(plain), (plain.to_owned(), Files::default()));
        // A `?` in the credentials is not the query's (tokio-postgres ends them at `@`).
        let (rest, found) = split("postgres://u:p?sslcert=x@db/app?sslcert=/c&sslkey=/k");
        assert_eq!(rest, "postgres://u:p?sslcert=x@db/app");
        assert_eq!(found, files(None, Some("/c"), Some("/k")));
    }

    #[test]
    fn a_key_value_strings_file_keys_are_taken_out_and_the_rest_kept_as_written() {
        let (rest, found) = split(
            "host=db sslrootcert = '/etc/my ca.pem' password='a \\'b' sslkey=/k\\ 1.pem \
             sslmode=verify-ca sslcert=/c.pem\\",
        );
        // (A last lone backslash is dropped, as tokio-postgres drops it.)
        assert_eq!(rest, "host=db  password='a \\'b'  sslmode=require ");
        assert_eq!(
            found,
            files(Some("/etc/my ca.pem"), Some("/c.pem"), Some("/k 1.pem"))
        );
        // Not the grammar (an open quote, an empty bare value): whole, for
        // tokio-postgres to refuse.
        for broken in [
            "host=db sslrootcert='/ca.pem",
            "host=db sslcert=",
            "=x sslcert=/c",
        ] {
            assert_eq!(split(broken), (broken.to_owned(), Files::default()));
        }
        // An empty quoted value names no file.
        assert_eq!(split("host=db sslcert=''").1, Files::default());
        // `system` without `sslmode`.
        assert_eq!(
            split("host=db sslrootcert=system").0,
            "host=db  sslmode=require"
        );
    }

    #[test]
    fn tokio_postgres_reads_the_rest_as_it_read_the_whole() {
        for (with, without) in [
            (
                "host=db password='a b\\' sslmode=verify-ca c' sslrootcert=/ca.pem dbname=x \
                 sslmode=verify-full",
                "host=db password='a b\\' sslmode=verify-ca c' dbname=x sslmode=require",
            ),
            (
                "postgres://u:p%20q@db:5433/app?sslcert=/c&connect_timeout=3&sslkey=/k",
                "postgres://u:p%20q@db:5433/app?connect_timeout=3",
            ),
            (
                "postgres://u:p?q@db/app?sslmode=verify%2Dfull&application_name=a%26b",
                "postgres://u:p?q@db/app?sslmode=require&application_name=a%26b",
            ),
        ] {
            let parsed: tokio_postgres::Config = split(with).0.parse().unwrap();
            let expected: tokio_postgres::Config = without.parse().unwrap();
            assert_eq!(parsed.get_user(), expected.get_user());
            assert_eq!(parsed.get_password(), expected.get_password());
            assert!(parsed.get_password().is_some());
            assert_eq!(parsed.get_dbname(), expected.get_dbname());
            assert_eq!(parsed.get_hosts(), expected.get_hosts());
            assert_eq!(parsed.get_ports(), expected.get_ports());
            assert_eq!(parsed.get_ssl_mode(), expected.get_ssl_mode());
            assert_eq!(
                parsed.get_application_name(),
                expected.get_application_name()
            );
            assert_eq!(parsed.get_connect_timeout(), expected.get_connect_timeout());
            assert_eq!(format!("{parsed:?}"), format!("{expected:?}"));
        }
    }

    proptest::proptest! {
        /// Any string: splitting never panics, and a string that names no `ssl` key comes
        /// back as it was.
        #[test]
        fn splitting_never_panics(s in "[ -~]{0,80}", url in proptest::bool::ANY) {
            let s = if url { format!("postgres://{s}") } else { s };
            let (rest, found) = split(&s);
            if !s.contains("ssl") && !s.contains('%') {
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
