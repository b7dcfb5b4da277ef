//! libcalico-go's `ConvertUID`: the UID a Calico resource shows is its custom resource's UID
//! with every byte's bits reversed, except bytes 6 and 8 (the UUID version and variant stay
//! valid). It is its own inverse, so the same function turns a Calico UID back into the
//! custom resource's for a precondition. A UID that is not a UUID passes through unchanged.

pub fn convert_uid(uid: &str) -> String {
    let Some(mut bytes) = crate::uuid::parse(uid) else {
        return uid.to_string();
    };
    for (i, b) in bytes.iter_mut().enumerate() {
        if i != 6 && i != 8 {
            *b = b.reverse_bits();
        }
    }
    crate::uuid::format(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_involution_keeping_version_and_variant() {
        let u = "6d0a1f3c-8a2e-4b7d-9c1e-2f3a4b5c6d7e";
        let c = convert_uid(u);
        assert_ne!(c, u);
        assert_eq!(&c[14..15], "4", "version nibble kept");
        assert_eq!(&c[19..20], "9", "variant nibble kept");
        assert_eq!(convert_uid(&c), u);
        assert_eq!(convert_uid("not-a-uuid"), "not-a-uuid");
    }
}
