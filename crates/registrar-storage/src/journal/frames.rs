//! The write-ahead log's frame format: a length, a CRC-32 and the changes of one group commit, each naming its table and key.

use super::*;

/// The complete frames of a log; stops at the first one that is cut short or fails its checksum.
pub(super) fn frames(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
        let payload = bytes.get(8..8usize.checked_add(len)?)?;
        if len == 0 || crc32(payload) != crc {
            return None;
        }
        bytes = &bytes[8 + len..];
        Some(payload)
    })
}

/// The changes of one frame, in order. A frame passed its checksum, so a malformed one is damage, not a torn
/// write.
pub(super) fn changes(mut p: &[u8]) -> impl Iterator<Item = Result<Change<'_>, &'static str>> {
    fn take<'a>(p: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
        if p.len() < n {
            return Err("frame ends inside a change");
        }
        let (head, rest) = p.split_at(n);
        *p = rest;
        Ok(head)
    }
    fn len(p: &mut &[u8]) -> Result<usize, &'static str> {
        let b = take(p, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let mut failed = false;
    std::iter::from_fn(move || {
        if p.is_empty() || failed {
            return None;
        }
        let one = (|| {
            let table = match take(&mut p, 1)?[0] {
                0 => Table::Bindings,
                1 => Table::Publications,
                2 => Table::Subscriptions,
                3 => Table::Directory,
                4 => Table::Audit,
                5 => Table::PresenceState,
                _ => return Err("unknown table"),
            };
            let n = len(&mut p)?;
            let key = std::str::from_utf8(take(&mut p, n)?).map_err(|_| "key is not UTF-8")?;
            let value = match take(&mut p, 1)?[0] {
                0 => None,
                1 => {
                    let n = len(&mut p)?;
                    Some(take(&mut p, n)?)
                }
                _ => return Err("bad value marker"),
            };
            Ok((table, key, value))
        })();
        failed = one.is_err();
        Some(one)
    })
}

pub(super) fn encode_change(out: &mut Vec<u8>, table: Table, key: &str, value: Option<&[u8]>) {
    out.push(match table {
        Table::Bindings => 0,
        Table::Publications => 1,
        Table::Subscriptions => 2,
        Table::Directory => 3,
        Table::Audit => 4,
        Table::PresenceState => 5,
    });
    out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
}

/// CRC-32 (IEEE, reflected: the check value of "123456789" is `0xCBF43926`) of a frame's payload.
pub(super) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}
