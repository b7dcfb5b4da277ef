//! The host-seeded random start for new blocks. libcalico-go seeds Go's math/rand with the
//! FNV-32 hash of the host name so that one host keeps picking from the same region of a pool
//! and different hosts spread out; we keep that property (seed = FNV-32a of the host) with a
//! small xorshift generator instead of reproducing Go's generator bit for bit.

pub struct HostRng(u64);

impl HostRng {
    pub fn for_host(host: &str) -> Self {
        let mut h: u32 = 0x811c_9dc5;
        for b in host.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        HostRng(u64::from(h) | 1 << 40)
    }

    /// Time-seeded (libcalico-go does this for /32 and /128 blocks, where a fixed start would
    /// make every host collide on the same addresses).
    pub fn from_time() -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        HostRng(n | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u128) -> u128 {
        let r = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        r % n
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u128 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_same_sequence() {
        let (mut a, mut b, mut c) = (
            HostRng::for_host("n1"),
            HostRng::for_host("n1"),
            HostRng::for_host("n2"),
        );
        let (x, y, z) = (a.below(1 << 20), b.below(1 << 20), c.below(1 << 20));
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
