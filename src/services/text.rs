//! Small byte/text helpers shared by the protocol parsers (all total: no panics on any input).

/// Printable ASCII kept, everything else escaped (`\r`, `\n`, `\t`, `\xNN`), at most `max` bytes read.
pub fn escape(data: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(data.len().min(max) + 8);
    for &b in data.iter().take(max) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The first line (without its CR LF), if a complete line is there.
pub fn first_line(data: &[u8]) -> Option<&[u8]> {
    let end = data.iter().position(|&b| b == b'\n')?;
    let line = &data[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Complete lines (the last one only if terminated).
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    data[..complete].split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// True when every byte is printable ASCII or tab.
pub fn is_text(data: &[u8]) -> bool {
    data.iter().all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
}

/// Lossy text with control bytes dropped, for evidence.
pub fn lossy(data: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&data[..data.len().min(max)]).chars().filter(|c| !c.is_control()).collect()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether a reply ends with a complete line.
pub fn has_line(data: &[u8]) -> bool {
    data.contains(&b'\n')
}

pub fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
pub fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
pub fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
pub fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
pub fn be24(d: &[u8], at: usize) -> Option<usize> {
    let b = d.get(at..at.checked_add(3)?)?;
    Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
}

/// RFC 3339 (UTC) from Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(escape(b"SSH-2.0\r\n\x00<", 100), "SSH-2.0\\r\\n\\x00<");
        assert_eq!(first_line(b"220 hi\r\nmore"), Some(&b"220 hi"[..]));
        assert_eq!(first_line(b"220 hi"), None);
        assert_eq!(lines(b"a\r\nb\nc").collect::<Vec<_>>(), vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(be24(&[1, 2, 3], 0), Some(0x010203));
        assert_eq!(be16(&[1], 0), None);
    }
}
