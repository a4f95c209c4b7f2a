//! GRUUs (RFC 5627): the public GRUU of a device and the temporary GRUUs of a binding.

use registrar_types::{Aor, Binding, InstanceId, SipUri, TempGruu, escape_param_value, unescape};

/// User-part prefix of every temporary GRUU we issue.
const TEMP_PREFIX: &str = "tgruu.";

/// The public GRUU of a device: its AoR with `gr=<instance-id>` (RFC 5627 §3.1), the instance id escaped
/// where it holds characters a URI parameter may not (a URN may hold `@`, `;`, `%`, …).
pub fn public_gruu(aor: &Aor, instance: &InstanceId) -> SipUri {
    aor.to_uri()
        .with_param("gr", Some(&escape_param_value(instance.as_str())))
        .unwrap_or_else(|e| unreachable!("an escaped value is a valid parameter value: {e}"))
}

/// The current temporary GRUU of a series: `sip:tgruu.<key><seq>@<domain>;gr`.
///
/// It names neither the user nor the device; the key is random, so it cannot be guessed from another user's.
pub fn temp_gruu(aor: &Aor, t: TempGruu) -> SipUri {
    let text = format!(
        "sip:{TEMP_PREFIX}{:016x}{:08x}@{};gr",
        t.key,
        t.seq,
        aor.hostport()
    );
    text.parse()
        .unwrap_or_else(|e| unreachable!("a temporary GRUU is a valid URI: {e}"))
}

/// The GRUUs that a 200 OK carries for one binding, when the device asked for them.
pub(crate) fn gruus_for(aor: &Aor, b: &Binding) -> Option<(SipUri, SipUri)> {
    let instance = b.instance_id.as_ref()?;
    let series = b.temp_gruu?;
    Some((public_gruu(aor, instance), temp_gruu(aor, series)))
}

/// What a GRUU names.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum GruuRef {
    /// A public GRUU: this AoR's device with this instance id.
    Public {
        /// The AoR.
        aor: Aor,
        /// The device.
        instance: InstanceId,
    },
    /// A temporary GRUU of the series `key`, number `seq`.
    Temporary {
        /// The series key.
        key: u64,
        /// The number within the series.
        seq: u32,
    },
}

/// Read a URI as a GRUU; `None` when it is not one (no `gr` parameter, or a malformed one).
pub fn parse_gruu(uri: &SipUri) -> Option<GruuRef> {
    match uri.param("gr")? {
        Some(value) => Some(GruuRef::Public {
            aor: Aor::from_uri(uri),
            instance: unescape(value)?.parse().ok()?,
        }),
        None => {
            let token = uri.user()?.strip_prefix(TEMP_PREFIX)?;
            if token.len() != 24 {
                return None;
            }
            let key = u64::from_str_radix(&token[..16], 16).ok()?;
            let seq = u32::from_str_radix(&token[16..], 16).ok()?;
            Some(GruuRef::Temporary { key, seq })
        }
    }
}

/// Whether `contact` is a GRUU that this registrar would issue for `aor`: registering it would make a loop.
pub(crate) fn is_gruu_of(contact: &SipUri, aor: &Aor) -> bool {
    match parse_gruu(contact) {
        Some(GruuRef::Public { aor: a, .. }) => &a == aor,
        Some(GruuRef::Temporary { .. }) => Aor::from_uri(contact).hostport() == aor.hostport(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_with_reserved_characters_are_escaped_and_round_trip() {
        // Found by fuzzing the SIP adapter: a URN may hold characters a URI parameter may not.
        let aor: Aor = "sip:alice@example.com".parse().unwrap();
        for raw in ["urn:x-dev:a@b;c", "urn:x-dev:100%", "urn:x-dev:a%41b"] {
            let inst: InstanceId = raw.parse().unwrap();
            let p = public_gruu(&aor, &inst);
            assert_eq!(
                parse_gruu(&p),
                Some(GruuRef::Public {
                    aor: aor.clone(),
                    instance: inst
                }),
                "{p}"
            );
        }
    }

    #[test]
    fn public_and_temporary_round_trip() {
        let aor: Aor = "sip:alice@example.com".parse().unwrap();
        let inst: InstanceId = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
            .parse()
            .unwrap();
        let p = public_gruu(&aor, &inst);
        assert_eq!(
            p.to_string(),
            "sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        );
        assert_eq!(
            parse_gruu(&p),
            Some(GruuRef::Public {
                aor: aor.clone(),
                instance: inst
            })
        );
        let t = temp_gruu(
            &aor,
            TempGruu {
                key: 0xdead_beef,
                seq: 7,
            },
        );
        assert_eq!(
            t.to_string(),
            "sip:tgruu.00000000deadbeef00000007@example.com;gr"
        );
        assert_eq!(
            parse_gruu(&t),
            Some(GruuRef::Temporary {
                key: 0xdead_beef,
                seq: 7
            })
        );
        assert!(is_gruu_of(&t, &aor));
        assert!(is_gruu_of(&p, &aor));
        let plain: SipUri = "sip:alice@192.0.2.1".parse().unwrap();
        assert_eq!(parse_gruu(&plain), None);
        assert!(!is_gruu_of(&plain, &aor));
    }
}
