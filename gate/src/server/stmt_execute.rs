//! Checks a COM_STMT_EXECUTE completely before opensrv-mysql decodes it.
//!
//! opensrv-mysql 0.7 trusts the client's bytes when it decodes the bound
//! parameters (`params.rs`): it `split_at`s the NULL bitmap and the types
//! without looking at the length, `panic!`s on a type byte it does not
//! know, indexes the types it never received, and `unwrap`s the decoding
//! of each value, so a truncated value panics too. A panic ends the
//! connection's task; on network input it is a bug. [`check`] answers,
//! from the packet alone, whether opensrv can decode every parameter: the
//! reader ([`super::client_packets`]) turns the executes it refuses into
//! error 1210, as MariaDB answers a malformed execute.
//!
//! The packet (MySQL protocol, COM_STMT_EXECUTE):
//!
//! ```text
//! 0x17 | stmt id u32 | flags u8 | iteration count u32
//! | NULL bitmap, (params + 7) / 8 bytes | new-params-bound flag u8
//! | if the flag is set: (type u8, flags u8) per parameter
//! | the value of each parameter that is neither NULL nor sent as long data
//! ```

/// Command byte, statement id, flags and iteration count.
pub const HEADER: usize = 10;

/// opensrv keeps a statement's parameter count in a `u16`.
const MAX_PARAMS: usize = u16::MAX as usize;

/// How a value of one type is laid out in the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// This many bytes (integers, floats; 0 for MYSQL_TYPE_NULL).
    Fixed(usize),
    /// A length byte, then that many bytes (dates, times, datetimes).
    Counted,
    /// A length-encoded integer, then that many bytes (strings, blobs,
    /// decimals, JSON, BIT, ENUM, SET, GEOMETRY).
    LengthEncoded,
}

/// The layout of a parameter type, for the types opensrv decodes
/// (`ValueInner::parse_from`); `None` for the others (NEWDATE, the
/// replication-only TIMESTAMP2/DATETIME2/TIME2/TYPED_ARRAY, 0xf3 and
/// unassigned bytes), which opensrv would panic on.
fn layout(ty: u8) -> Option<Layout> {
    Some(match ty {
        // NULL; TINY; SHORT, YEAR; LONG, INT24, FLOAT; LONGLONG, DOUBLE.
        0x06 => Layout::Fixed(0),
        0x01 => Layout::Fixed(1),
        0x02 | 0x0d => Layout::Fixed(2),
        0x03 | 0x09 | 0x04 => Layout::Fixed(4),
        0x08 | 0x05 => Layout::Fixed(8),
        // TIMESTAMP, DATE, TIME, DATETIME.
        0x07 | 0x0a | 0x0b | 0x0c => Layout::Counted,
        // DECIMAL, VARCHAR, BIT, then JSON through GEOMETRY.
        0x00 | 0x0f | 0x10 | 0xf5..=0xff => Layout::LengthEncoded,
        _ => return None,
    })
}

/// Bytes the value at the start of `v` takes, if it is all there.
fn value_len(layout: Layout, v: &[u8]) -> Option<usize> {
    let (prefix, len) = match layout {
        Layout::Fixed(n) => (0, n),
        Layout::Counted => (1, usize::from(*v.first()?)),
        Layout::LengthEncoded => {
            let (&b, rest) = v.split_first()?;
            let n = match b {
                0..=0xfa => 0,
                0xfc => 2,
                0xfd => 3,
                0xfe => 8,
                // 0xfb (NULL) and 0xff are not lengths; opensrv refuses them.
                _ => return None,
            };
            let len = if n == 0 {
                u64::from(b)
            } else {
                let mut le = [0u8; 8];
                le[..n].copy_from_slice(rest.get(..n)?);
                u64::from_le_bytes(le)
            };
            (1 + n, usize::try_from(len).ok()?)
        }
    };
    let total = prefix.checked_add(len)?;
    (total <= v.len()).then_some(total)
}

/// The statement id of an execute, if the packet is long enough to have
/// one.
pub fn statement_id(p: &[u8]) -> Option<u32> {
    let id = p.get(1..5)?;
    Some(u32::from_le_bytes([id[0], id[1], id[2], id[3]]))
}

/// Offset of the new-params-bound flag for `params` parameters.
pub fn bound_flag_at(params: usize) -> usize {
    HEADER + params.div_ceil(8)
}

/// Whether opensrv can decode the whole execute `p` (command byte first)
/// of a statement with `params` parameters, where `long_data(i)` tells
/// whether parameter `i` was sent with COM_STMT_SEND_LONG_DATA (opensrv
/// takes those from there, not from the packet). The types must be in the
/// packet: the reader has put back those the client left out. `Err` says
/// what is wrong, for the log.
pub fn check(
    p: &[u8],
    params: usize,
    long_data: impl Fn(usize) -> bool,
) -> Result<(), &'static str> {
    if p.len() < HEADER {
        return Err("packet shorter than the execute header");
    }
    if params == 0 {
        return Ok(());
    }
    if params > MAX_PARAMS {
        return Err("more parameters than opensrv can count");
    }
    let flag_at = bound_flag_at(params);
    let nulls = p.get(HEADER..flag_at).ok_or("truncated NULL bitmap")?;
    match p.get(flag_at) {
        None => return Err("no new-params-bound flag"),
        Some(0) => return Err("parameter types never sent"),
        Some(_) => {}
    }
    let types_end = flag_at + 1 + 2 * params;
    let types = p
        .get(flag_at + 1..types_end)
        .ok_or("truncated parameter types")?;
    let mut values = p.get(types_end..).unwrap_or_default();
    for (i, ty) in types.chunks_exact(2).enumerate() {
        let layout = layout(ty[0]).ok_or("parameter type opensrv cannot decode")?;
        let null = nulls.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        if null || long_data(i) {
            continue;
        }
        let n = value_len(layout, values).ok_or("truncated parameter value")?;
        values = values.get(n..).unwrap_or_default();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An execute of statement 7 with `types` (one byte each, signed),
    /// NULL bitmap `nulls` and the value bytes.
    fn execute(nulls: &[u8], types: &[u8], values: &[u8]) -> Vec<u8> {
        let mut p = vec![0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0];
        p.extend_from_slice(nulls);
        p.push(1);
        for t in types {
            p.extend_from_slice(&[*t, 0]);
        }
        p.extend_from_slice(values);
        p
    }

    fn ok(p: &[u8], params: usize) -> bool {
        check(p, params, |_| false).is_ok()
    }

    /// One valid value of each type opensrv decodes.
    fn valid_values() -> Vec<(u8, Vec<u8>)> {
        let mut v = vec![
            (0x06, vec![]),
            (0x01, vec![0x85]),
            (0x02, vec![1, 2]),
            (0x0d, vec![0xe8, 0x07]),
            (0x03, 5554u32.to_le_bytes().to_vec()),
            (0x09, vec![1, 0, 0, 0]),
            (0x04, 1.5f32.to_le_bytes().to_vec()),
            (0x08, u64::MAX.to_le_bytes().to_vec()),
            (0x05, 2.5f64.to_le_bytes().to_vec()),
            (0x0a, vec![4, 0xea, 0x07, 11, 22]),
            (0x0c, vec![7, 0xea, 0x07, 11, 22, 1, 2, 3]),
            (0x07, vec![0]),
            (0x0b, vec![8, 0, 1, 0, 0, 0, 2, 3, 4]),
        ];
        for t in [0x00, 0x0f, 0x10, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb] {
            v.push((t, b"\x03abc".to_vec()));
        }
        v.push((0xfc, b"\xfc\x02\x00hi".to_vec()));
        v.push((0xfd, b"\xfd\x01\x00\x00x".to_vec()));
        v.push((0xfe, b"\xfe\x01\x00\x00\x00\x00\x00\x00\x00y".to_vec()));
        v.push((0xff, b"\x00".to_vec()));
        v
    }

    #[test]
    fn every_decodable_type_is_accepted_and_cut_short_refused() {
        for (ty, value) in valid_values() {
            let p = execute(&[0], &[ty], &value);
            assert_eq!(check(&p, 1, |_| false), Ok(()), "type {ty:#x}");
            // Any shorter value is refused (nothing for NULL to cut).
            for cut in 0..value.len() {
                let p = execute(&[0], &[ty], &value[..cut]);
                assert!(!ok(&p, 1), "type {ty:#x} cut to {cut}");
            }
            // Marked NULL, the value may be absent.
            assert!(ok(&execute(&[1], &[ty], &[]), 1), "type {ty:#x} NULL");
        }
        // All of them in one statement, one after the other.
        let (types, values): (Vec<u8>, Vec<Vec<u8>>) = valid_values().into_iter().unzip();
        let n = types.len();
        let p = execute(&vec![0; n.div_ceil(8)], &types, &values.concat());
        assert!(ok(&p, n));
        assert!(!ok(&p[..p.len() - 1], n));
    }

    #[test]
    fn types_opensrv_cannot_decode_are_refused() {
        for ty in [0x0e, 0x11, 0x12, 0x13, 0x14, 0x20, 0xf3, 0xf4, 0xee] {
            assert!(!ok(&execute(&[0], &[ty], &[0; 16]), 1), "{ty:#x}");
            // Even for a NULL value: opensrv reads every type first.
            assert!(!ok(&execute(&[1], &[ty], &[]), 1), "{ty:#x}");
        }
    }

    #[test]
    fn malformed_headers_bitmaps_and_lengths_are_refused() {
        let good = execute(&[0], &[0x03], &[1, 0, 0, 0]);
        assert!(ok(&good, 1));
        // Every truncation of a valid packet.
        for cut in 0..good.len() {
            assert!(!ok(&good[..cut], 1), "cut to {cut}");
        }
        // Types left out (flag 0) and never put back.
        let mut untyped = good[..HEADER + 1].to_vec();
        untyped.extend_from_slice(&[0, 1, 0, 0, 0]);
        assert_eq!(
            check(&untyped, 1, |_| false),
            Err("parameter types never sent")
        );
        // 0xfb and 0xff are not length prefixes.
        for b in [0xfb, 0xff] {
            assert!(!ok(&execute(&[0], &[0xfd], &[b, 0, 0]), 1));
        }
        // A length-encoded length far beyond the packet.
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(!ok(&execute(&[0], &[0xfd], &huge), 1));
        // More parameters than opensrv's u16 holds.
        assert!(!ok(&good, 70_000));
    }

    #[test]
    fn statements_without_parameters_and_long_data() {
        // No parameters: the header is all there is to check.
        assert!(ok(&[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0], 0));
        assert!(!ok(&[0x17, 7, 0, 0, 0, 0, 1, 0, 0], 0));
        // Parameter 1 came as long data: only parameter 0 is in the packet.
        let p = execute(&[0], &[0x03, 0xfc], &[1, 0, 0, 0]);
        assert!(!ok(&p, 2));
        assert!(check(&p, 2, |i| i == 1).is_ok());
        // NULL bitmap bits beyond the second byte.
        let types = [0x03; 9];
        let p = execute(&[0xff, 0x01], &types, &[]);
        assert!(ok(&p, 9));
        assert!(!ok(&execute(&[0xff, 0x00], &types, &[]), 9));
    }

    #[test]
    fn statement_ids() {
        assert_eq!(statement_id(&[0x17, 1, 2, 0, 0]), Some(0x201));
        assert_eq!(statement_id(&[0x17, 1, 2, 0]), None);
        assert_eq!(bound_flag_at(1), 11);
        assert_eq!(bound_flag_at(9), 12);
    }
}
