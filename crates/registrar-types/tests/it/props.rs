//! Parse/print round trips and the algebra of RFC 3261 §19.1.4 URI equality.

use proptest::prelude::*;
use registrar_types::{Aor, CSeq, InstanceId, QValue, RegId, SipUri};

const UNRESERVED: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()";

fn user_text() -> impl Strategy<Value = String> {
    // Unreserved characters, user-unreserved characters, and escapes of anything.
    let piece = prop_oneof![
        4 => proptest::sample::select(UNRESERVED.chars().collect::<Vec<_>>()).prop_map(String::from),
        1 => proptest::sample::select(vec!['&', '=', '+', '$', ',', ';', '?', '/']).prop_map(String::from),
        1 => any::<u8>().prop_map(|b| format!("%{b:02x}")),
    ];
    proptest::collection::vec(piece, 1..12).prop_map(|v| v.concat())
}

fn host_text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec("[a-z][a-z0-9]{0,8}", 1..4).prop_map(|l| l.join(".")),
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|s| format!(
            "[{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}]",
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        )),
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9\\-]{0,7}"
}

prop_compose! {
    fn uri_text()(
        sips in any::<bool>(),
        user in proptest::option::of(user_text()),
        host in host_text(),
        port in proptest::option::of(1u16..),
        params in proptest::collection::btree_map(token(), proptest::option::of(token()), 0..4),
        headers in proptest::collection::btree_map(token(), "[a-z0-9%]{0,0}[a-z0-9]{0,6}", 0..3),
    ) -> String {
        let mut s = String::from(if sips { "sips:" } else { "sip:" });
        if let Some(u) = user { s.push_str(&u); s.push('@'); }
        s.push_str(&host);
        if let Some(p) = port { s.push_str(&format!(":{p}")); }
        // Parameter names are case-insensitive; the map may hold two spellings of one name.
        let mut seen = std::collections::HashSet::new();
        for (k, v) in params {
            if !seen.insert(k.to_ascii_lowercase()) { continue; }
            s.push(';'); s.push_str(&k);
            if let Some(v) = v { s.push('='); s.push_str(&v); }
        }
        for (i, (k, v)) in headers.into_iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&k); s.push('='); s.push_str(&v);
        }
        s
    }
}

/// Escape every unreserved character of `s` that `pick` selects; the result is an equivalent URI text.
fn escape_some(s: &str, pick: &[bool]) -> String {
    let mut out = String::new();
    let mut in_escape = 0;
    for (i, c) in s.chars().enumerate() {
        if c == '%' {
            in_escape = 2;
            out.push(c);
        } else if in_escape > 0 {
            in_escape -= 1;
            out.push(c);
        } else if c.is_ascii_alphanumeric() && pick.get(i).copied().unwrap_or(false) {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    out
}

proptest! {
    #[test]
    fn uri_print_parse_round_trip(text in uri_text()) {
        let u: SipUri = text.parse().unwrap();
        let printed = u.to_string();
        let again: SipUri = printed.parse().unwrap();
        prop_assert_eq!(&again, &u);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn escaping_unreserved_characters_keeps_equality(user in user_text(), host in host_text(), pick in proptest::collection::vec(any::<bool>(), 0..40)) {
        let plain: SipUri = format!("sip:{user}@{host}").parse().unwrap();
        let escaped: SipUri = format!("sip:{}@{host}", escape_some(&user, &pick)).parse().unwrap();
        prop_assert_eq!(&plain, &escaped);
        prop_assert_eq!(Aor::from_uri(&plain), Aor::from_uri(&escaped));
    }

    #[test]
    fn equality_is_reflexive_and_symmetric(a in uri_text(), b in uri_text()) {
        let a: SipUri = a.parse().unwrap();
        let b: SipUri = b.parse().unwrap();
        prop_assert!(a == a.clone());
        prop_assert_eq!(a == b, b == a);
    }

    #[test]
    fn host_and_scheme_case_do_not_matter(text in uri_text()) {
        let u: SipUri = text.parse().unwrap();
        let (scheme, rest) = text.split_once(':').unwrap();
        let (userpart, after) = match rest.find('@') { Some(i) => rest.split_at(i + 1), None => ("", rest) };
        // Upper-case the scheme and everything after the user except escapes, which keep their meaning.
        let shouted = format!("{}:{}{}", scheme.to_ascii_uppercase(), userpart, upper_outside_headers(after));
        let v: SipUri = shouted.parse().unwrap();
        prop_assert_eq!(&u, &v);
    }

    #[test]
    fn aor_drops_parameters(text in uri_text()) {
        let u: SipUri = text.parse().unwrap();
        let a = Aor::from_uri(&u);
        let as_uri = a.to_uri();
        prop_assert!(as_uri.params().is_empty());
        prop_assert!(as_uri.headers().is_empty());
        prop_assert_eq!(as_uri.user(), u.user());
        let again: Aor = a.as_str().parse().unwrap();
        prop_assert_eq!(again, a);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,80}") {
        let _ = s.parse::<SipUri>();
        let _ = s.parse::<Aor>();
        let _ = s.parse::<QValue>();
        let _ = s.parse::<CSeq>();
        let _ = s.parse::<InstanceId>();
        let _ = s.parse::<RegId>();
    }

    #[test]
    fn qvalue_round_trip(t in 0u16..=1000) {
        let q = QValue::from_thousandths(t).unwrap();
        prop_assert_eq!(q.to_string().parse::<QValue>().unwrap(), q);
    }

    #[test]
    fn cseq_round_trip(n in 0u32..=CSeq::MAX) {
        let c = CSeq::new(n).unwrap();
        prop_assert_eq!(c.to_string().parse::<CSeq>().unwrap(), c);
    }
}

/// Upper-case host and parameters but leave the header part alone (header values are case-sensitive).
fn upper_outside_headers(s: &str) -> String {
    match s.find('?') {
        Some(i) => format!("{}{}", upper_keep_escapes(&s[..i]), &s[i..]),
        None => upper_keep_escapes(s),
    }
}

fn upper_keep_escapes(s: &str) -> String {
    s.to_ascii_uppercase()
}
