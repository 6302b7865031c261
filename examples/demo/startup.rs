//! What every demo server checks before it starts (where it listens, and the secrets it
//! may not run without off loopback: the admin key, the JWT secret), and the admin key
//! of each operator's request.

/// The development admin key, used only on a loopback `BIND` while `ADMIN_KEY` is unset.
pub const DEV_ADMIN_KEY: &str = "admin-secret";

/// `BIND` (default `127.0.0.1:3000`), and whether only this machine can reach it.
pub struct Bind {
    pub addr: String,
    pub loopback: bool,
}

impl Bind {
    /// Loopback when every address `addr` names is: `localhost` resolves to both
    /// `127.0.0.1` and `::1`, while `0.0.0.0` and a host's own address are reachable
    /// from elsewhere.
    pub fn parse(addr: Option<String>) -> Result<Self, String> {
        use std::net::ToSocketAddrs;
        let addr = addr.unwrap_or_else(|| "127.0.0.1:3000".into());
        let ips: Vec<std::net::IpAddr> = addr
            .to_socket_addrs()
            .map_err(|e| format!("BIND={addr}: not an address to listen on ({e})"))?
            .map(|a| a.ip().to_canonical())
            .collect();
        let loopback = !ips.is_empty() && ips.iter().all(std::net::IpAddr::is_loopback);
        Ok(Self { addr, loopback })
    }

    /// A secret from the environment variable `name` (`value`; empty counts as unset,
    /// since an empty admin key would match an empty header). Off loopback it is
    /// required: a default published in the source would open the server to anyone.
    /// On loopback, unset, it is `dev_default` (public anyway, so the line `warnings`
    /// gets names both: an operator can then type the admin key into the admin page).
    pub fn secret(
        &self,
        name: &str,
        value: Option<String>,
        dev_default: &str,
        warnings: &mut Vec<String>,
    ) -> Result<String, String> {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => Ok(v),
            None if self.loopback => {
                warnings.push(format!(
                    "{name} is unset: using the development default `{dev_default}`, \
                     allowed only because BIND={} is a loopback address; set {name} \
                     before exposing this server",
                    self.addr
                ));
                Ok(dev_default.to_owned())
            }
            None => Err(format!(
                "{name} must be set: BIND={} is not a loopback address, and without it \
                 anyone who reads the source could use the development default",
                self.addr
            )),
        }
    }
}

/// Whether `given` (the `X-Admin-Key` header) is `key`, in time that does not depend on
/// where they differ.
pub fn admin_key_ok(given: Option<&[u8]>, key: &str) -> bool {
    let key = key.as_bytes();
    given.is_some_and(|g| {
        g.len() == key.len() && g.iter().zip(key).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    })
}

/// A demo's exit status: 0, or 1 with the reason on stderr (`error: …`), e.g. a
/// refusal to start.
pub fn report(result: Result<(), Box<dyn std::error::Error>>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
