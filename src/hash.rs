//! The crate's one stable hash, FNV-1a: the same number for the same bytes
//! on every machine and in every release. Shard assignment
//! (`--partition hash:`) and database names hashed to fit PostgreSQL's
//! identifier limit depend on it never changing.

/// FNV-1a with the given offset basis and prime, in arithmetic modulo
/// 2^64 masked to `mask` (modulo 2^32 is modulo 2^64, truncated).
fn fnv1a(bytes: &[u8], basis: u64, prime: u64, mask: u64) -> u64 {
    bytes.iter().fold(basis, |h, &b| {
        ((h ^ u64::from(b)).wrapping_mul(prime)) & mask
    })
}

/// 64-bit FNV-1a.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a(
        bytes,
        0xcbf2_9ce4_8422_2325,
        0x0000_0100_0000_01b3,
        u64::MAX,
    )
}

/// 32-bit FNV-1a.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    // Masked to 32 bits: the cast loses nothing.
    fnv1a(bytes, 0x811c_9dc5, 0x0100_0193, u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_fnv1a_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }
}
