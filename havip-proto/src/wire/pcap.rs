//! A tiny reader for classic pcap files (not pcapng), for tests against captured traffic: either
//! byte order, micro- or nanosecond timestamps, Ethernet link type only. It reads bytes the caller
//! loaded (`include_bytes!`, `std::fs::read`), so the unit tests and the root-tier labs can share
//! it.

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// Length of the frame on the wire; more than `data.len()` if the capture cut it short.
    pub orig_len: u32,
    /// When it was captured, since the Unix epoch.
    pub at: std::time::Duration,
}

const LINKTYPE_ETHERNET: u32 = 1;
const GLOBAL_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// Every record of a pcap file, or why the file is not one this reader handles.
pub fn records(file: &[u8]) -> Result<Vec<Record<'_>>, String> {
    let header = file
        .get(..GLOBAL_HEADER_LEN)
        .ok_or("shorter than a pcap header")?;
    let magic = [header[0], header[1], header[2], header[3]];
    // The writer stores the magic in its own byte order; reading it back says which that was.
    let little_endian = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err(format!("not a classic pcap file (magic {magic:02x?})")),
    };
    let u32_at = |bytes: &[u8], at: usize| {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let nanos = matches!(magic, [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]);
    let link_type = u32_at(header, 20);
    if link_type != LINKTYPE_ETHERNET {
        return Err(format!("link type {link_type}, expected 1 (Ethernet)"));
    }

    let mut records = Vec::new();
    let mut rest = &file[GLOBAL_HEADER_LEN..];
    while !rest.is_empty() {
        let index = records.len();
        let record = rest
            .get(..RECORD_HEADER_LEN)
            .ok_or_else(|| format!("record {index}: header cut short"))?;
        let incl_len = u32_at(record, 8) as usize;
        let orig_len = u32_at(record, 12);
        let end = RECORD_HEADER_LEN + incl_len;
        let data = rest.get(RECORD_HEADER_LEN..end).ok_or_else(|| {
            format!("record {index}: {incl_len} bytes announced, file ends first")
        })?;
        let (secs, frac) = (u32_at(record, 0), u32_at(record, 4));
        let at = std::time::Duration::from_secs(secs.into())
            + if nanos {
                std::time::Duration::from_nanos(frac.into())
            } else {
                std::time::Duration::from_micros(frac.into())
            };
        records.push(Record { data, orig_len, at });
        rest = &rest[end..];
    }
    Ok(records)
}

#[cfg(test)]
mod test {
    use super::*;

    fn file(little_endian: bool, nanos: bool, link_type: u32, frames: &[&[u8]]) -> Vec<u8> {
        let u32b = |v: u32| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u16b = |v: u16| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend_from_slice(&u16b(2));
        out.extend_from_slice(&u16b(4));
        out.extend_from_slice(&u32b(0));
        out.extend_from_slice(&u32b(0));
        out.extend_from_slice(&u32b(65535));
        out.extend_from_slice(&u32b(link_type));
        for (i, frame) in frames.iter().enumerate() {
            out.extend_from_slice(&u32b(i as u32));
            out.extend_from_slice(&u32b(0));
            out.extend_from_slice(&u32b(frame.len() as u32));
            out.extend_from_slice(&u32b(frame.len() as u32 + 1));
            out.extend_from_slice(frame);
        }
        out
    }

    #[test]
    fn reads_both_byte_orders_and_timestamp_kinds() {
        for little_endian in [true, false] {
            for nanos in [true, false] {
                let bytes = file(little_endian, nanos, 1, &[&[1, 2, 3], &[], &[4]]);
                let records = records(&bytes).unwrap();
                let data: Vec<&[u8]> = records.iter().map(|r| r.data).collect();
                assert_eq!(data, [&[1, 2, 3][..], &[], &[4]]);
                assert_eq!(records[0].orig_len, 4);
            }
        }
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(records(&[0; 10]).is_err());
        assert!(records(&[0; 24]).unwrap_err().contains("magic"));
        assert!(records(&file(true, false, 113, &[]))
            .unwrap_err()
            .contains("link type"));
        let bytes = file(true, false, 1, &[&[1, 2, 3]]);
        for cut in GLOBAL_HEADER_LEN + 1..bytes.len() {
            assert!(records(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
