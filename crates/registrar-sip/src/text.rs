//! Building message text without `core::fmt`: every response is a concatenation of slices of the request
//! and a few numbers, and the formatting machinery (argument tables, padding, `Ipv4Addr`'s own buffer) cost
//! more than the copying itself on the per-request path.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Append the decimal digits of `n`.
pub(crate) fn push_u64(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // A digit: `n % 10` is below 10.
        #[allow(clippy::cast_possible_truncation)]
        {
            buf[i] = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

/// Append `ip` as an address literal (IPv4 dotted quad; IPv6 as `Ipv6Addr` writes it, without brackets).
pub(crate) fn push_ip(s: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_u64(s, u64::from(o));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(s, "{v6}");
        }
    }
}

/// Append every part.
pub(crate) fn push_all(s: &mut String, parts: &[&str]) {
    for p in parts {
        s.push_str(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_and_addresses() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_ip(&mut s, "10.0.255.7".parse().unwrap_or(IpAddr::from([0; 4])));
        s.push(' ');
        push_ip(
            &mut s,
            "2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4])),
        );
        assert_eq!(s, "0 18446744073709551615 10.0.255.7 2001:db8::1");
    }

    proptest! {
        #[test]
        fn the_same_text_as_display(n in any::<u64>(), ip in any::<IpAddr>()) {
            let mut s = String::new();
            push_u64(&mut s, n);
            prop_assert_eq!(s, n.to_string());
            let mut s = String::new();
            push_ip(&mut s, ip);
            prop_assert_eq!(s, ip.to_string());
        }
    }
}
