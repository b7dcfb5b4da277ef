//! UUIDs: random (version 4) ones, as Kubernetes' `uuid.NewUUID()` gives a created resource's
//! `uid`, and the canonical text form both ways.

use std::io::Read;

/// A random UUID in its canonical lower-case form.
pub fn new_v4() -> String {
    let mut b = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format(&b)
}

/// The canonical lower-case form: `8-4-4-4-12` hex digits.
pub fn format(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The 16 bytes of a UUID in the canonical form (either case); `None` for anything else.
pub fn parse(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || s.len() != 36 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(b)
}

fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: the buffer is valid for its length; getrandom(2) writes at most that many bytes.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n == b.len() as isize {
        return b;
    }
    // Kernels before 3.17 have no getrandom(2).
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return b;
    }
    // Last resort: unique enough for a resource uid, which is an identifier, not a secret.
    let now = crate::time::unix_nanos(std::time::SystemTime::now());
    b[..8].copy_from_slice(&now.to_le_bytes());
    b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_and_random() {
        let a = super::new_v4();
        let b = super::new_v4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
        assert!(a
            .bytes()
            .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
