//! Just enough DER to read a certificate's subject, for the x509 authenticator: the user is
//! the subject's CN and the groups its O values (`CommonNameUserConversion` in
//! `apiserver/pkg/authentication/request/x509`, with Go's `pkix.Name` reading: the last CN
//! wins, O values in order). The certificate has already been verified by rustls.

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];

/// A certificate's subject CN and O values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub common_name: String,
    pub organization: Vec<String>,
}

/// One DER TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = if first < 0x80 {
        (first as usize, b)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n]
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | x as usize);
        (len, &b[n..])
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// A directory string as Go decodes it (UTF8String, PrintableString, IA5String, T61String,
/// BMPString).
fn string(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => String::from_utf8(v.to_vec()).ok(),
        0x14 => Some(v.iter().map(|&c| c as char).collect()),
        0x1e if v.len().is_multiple_of(2) => {
            let units: Vec<u16> = v
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// The subject of a DER certificate; `None` if it cannot be read.
pub fn subject(der: &[u8]) -> Option<Subject> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version (optional), serialNumber, signature, issuer, validity, then subject.
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (0x30, mut rdns, _) = tlv(rest)? else {
        return None;
    };
    let mut s = Subject::default();
    while !rdns.is_empty() {
        let (0x31, mut set, r) = tlv(rdns)? else {
            return None;
        };
        rdns = r;
        while !set.is_empty() {
            let (0x30, atv, r) = tlv(set)? else {
                return None;
            };
            set = r;
            let (0x06, oid, value) = tlv(atv)? else {
                return None;
            };
            let (tag, value, _) = tlv(value)?;
            if oid == OID_CN {
                s.common_name = string(tag, value)?;
            } else if oid == OID_O {
                s.organization.push(string(tag, value)?);
            }
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        v.extend_from_slice(content);
        v
    }

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        der(
            0x31,
            &der(0x30, &[der(0x06, oid), der(tag, value)].concat()),
        )
    }

    #[test]
    fn reads_cn_and_o_in_go_order() {
        let name = der(
            0x30,
            &[
                atv(OID_O, 0x13, b"devs"),
                atv(OID_CN, 0x0c, b"first"),
                atv(&[0x55, 0x04, 0x06], 0x13, b"DE"),
                atv(OID_O, 0x1e, &[0, b'o', 0, b'p', 0, b's']),
                atv(OID_CN, 0x0c, "älice".as_bytes()),
            ]
            .concat(),
        );
        let long_serial = der(0x02, &[7; 200]);
        let tbs = der(
            0x30,
            &[
                der(0xa0, &der(0x02, &[2])),
                long_serial,
                der(0x30, &[]),
                der(0x30, &[]),
                der(0x30, &[]),
                name,
                der(0x30, &[]),
            ]
            .concat(),
        );
        let cert = der(0x30, &[tbs, der(0x30, &[]), der(0x03, &[0])].concat());
        assert_eq!(
            subject(&cert),
            Some(Subject {
                common_name: "älice".into(),
                organization: vec!["devs".into(), "ops".into()],
            })
        );
        assert_eq!(subject(&cert[..cert.len() - 1]), None);
        assert_eq!(subject(b"\x04\x00"), None);
    }
}
