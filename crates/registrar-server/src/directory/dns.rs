//! DNS TXT lookups (hickory-resolver) for the directory: which directory server answers for a domain
//! (`_registrar-directory.<domain>`, `v=regdir1; id=<server id>`), and a participant's proof that they
//! control a domain (`_registrar-verify.<domain>`, `registrar-verify=<token>`).

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;

/// The TXT record naming a domain's directory server.
pub(crate) const DIRECTORY_LABEL: &str = "_registrar-directory";
/// The TXT record of a domain proof.
pub(crate) const VERIFY_LABEL: &str = "_registrar-verify";

/// A resolver: the system's (`/etc/resolv.conf`) or the configured name servers.
#[derive(Clone)]
pub(crate) struct Dns {
    resolver: TokioResolver,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// From `directory.dns_servers` (`IP:PORT` each; empty: the system's configuration).
    pub(crate) fn new(servers: &[String]) -> Result<Self, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = std::time::Duration::from_secs(2);
        opts.attempts = 1;
        let resolver = if servers.is_empty() {
            TokioResolver::builder(TokioConnectionProvider::default())
                .map_err(|e| format!("the system's DNS configuration: {e}"))?
                .with_options(opts)
                .build()
        } else {
            let mut group = NameServerConfigGroup::new();
            for s in servers {
                let addr: SocketAddr = s
                    .parse()
                    .map_err(|e| format!("directory.dns_servers: {s:?} is not IP:PORT ({e})"))?;
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[addr.ip()],
                    addr.port(),
                    true,
                ));
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), group),
                TokioConnectionProvider::default(),
            )
            .with_options(opts)
            .build()
        };
        Ok(Self { resolver })
    }

    /// The TXT strings at `name` (each record's strings joined) and the smallest TTL; a name with no
    /// TXT records is an empty list.
    pub(crate) async fn txt(&self, name: &str) -> Result<(Vec<String>, u64), String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn).await {
            Ok(l) => {
                let ttl = l
                    .as_lookup()
                    .record_iter()
                    .map(|r| u64::from(r.ttl()))
                    .min()
                    .unwrap_or(300);
                let v = l
                    .iter()
                    .map(|t| {
                        t.txt_data()
                            .iter()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .collect::<String>()
                    })
                    .collect();
                Ok((v, ttl))
            }
            Err(e) if e.is_no_records_found() => Ok((Vec::new(), 60)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The directory server `domain`'s TXT record names (`None`: no record) and how long to believe it.
    pub(crate) async fn directory_server(
        &self,
        domain: &str,
    ) -> Result<(Option<String>, u64), String> {
        let (records, ttl) = self.txt(&format!("{DIRECTORY_LABEL}.{domain}")).await?;
        Ok((records.iter().find_map(|r| parse_directory(r)), ttl))
    }
}

/// `v=regdir1; id=<server id>` → the id (other versions and malformed records are ignored).
pub(crate) fn parse_directory(record: &str) -> Option<String> {
    let mut fields = record.split(';').map(str::trim);
    if fields.next()? != "v=regdir1" {
        return None;
    }
    fields
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| k.trim() == "id")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_records_parse() {
        assert_eq!(
            parse_directory("v=regdir1; id=b.example").as_deref(),
            Some("b.example")
        );
        assert_eq!(
            parse_directory("v=regdir1;id = b.example ; x=1").as_deref(),
            Some("b.example")
        );
        assert_eq!(parse_directory("v=regdir2; id=b.example"), None);
        assert_eq!(parse_directory("v=spf1 -all"), None);
        assert_eq!(parse_directory("v=regdir1; id="), None);
    }
}
