//! Hardware addresses in the forms Go's `net.ParseMAC` accepts: `00:00:5e:00:53:01`,
//! `00-00-5e-00-53-01`, `0000.5e00.5301`, each for 6 (EUI-48), 8 (EUI-64) or 20 (IPoIB)
//! bytes; hex digits in either case.

/// The address bytes, or Go's error text (`address <s>: invalid MAC address`).
pub fn parse(s: &str) -> Result<Vec<u8>, String> {
    parse_bytes(s.as_bytes()).ok_or_else(|| format!("address {s}: invalid MAC address"))
}

fn parse_bytes(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() < 14 {
        return None;
    }
    let valid_len = |n: usize| matches!(n, 6 | 8 | 20);
    if s[2] == b':' || s[2] == b'-' {
        // xx:xx:...: groups of two digits, every separator the same.
        if !(s.len() + 1).is_multiple_of(3) || !valid_len((s.len() + 1) / 3) {
            return None;
        }
        let sep = s[2];
        s.chunks(3)
            .map(|group| match group {
                [a, b] | [a, b, _] if group.len() == 2 || group[2] == sep => byte(*a, *b),
                _ => None,
            })
            .collect()
    } else if s[4] == b'.' {
        // xxxx.xxxx.xxxx: groups of four digits.
        if !(s.len() + 1).is_multiple_of(5) || !valid_len(2 * (s.len() + 1) / 5) {
            return None;
        }
        let mut out = Vec::with_capacity(2 * (s.len() + 1) / 5);
        for group in s.chunks(5) {
            if group.len() == 5 && group[4] != b'.' {
                return None;
            }
            out.push(byte(group[0], group[1])?);
            out.push(byte(group[2], group[3])?);
        }
        Some(out)
    } else {
        None
    }
}

fn byte(hi: u8, lo: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_go_forms() {
        let want = vec![0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
        assert_eq!(parse("00:00:5e:00:53:01").unwrap(), want);
        assert_eq!(parse("00-00-5E-00-53-01").unwrap(), want);
        assert_eq!(parse("0000.5e00.5301").unwrap(), want);
        assert_eq!(parse("02:00:5e:10:00:00:00:01").unwrap().len(), 8);
        assert_eq!(
            parse("00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01")
                .unwrap()
                .len(),
            20
        );
        assert_eq!(
            parse("0000.0000.fe80.0000.0000.0000.0200.5e10.0000.0001")
                .unwrap()
                .len(),
            20
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in [
            "",
            "zz",
            "00:00:5e:00:53",
            "00:00:5e:00:53:01:",
            "00:00-5e:00:53:01",
            "00:00:5e:00:53:0g",
            "0:00:5e:00:53:01x",
            "00:00:5e:00:53:01:02",
            "0000.5e00.5301.",
            "0000.5e00:5301",
            "000.05e00.5301",
            "+0:00:5e:00:53:01",
        ] {
            assert_eq!(
                parse(bad).unwrap_err(),
                format!("address {bad}: invalid MAC address"),
                "{bad:?}"
            );
        }
    }
}
