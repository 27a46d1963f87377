//! API keys: `weir_<project>_<random>` with >= 128 bits of randomness,
//! shown once, kept only as HMAC-SHA256 under a server secret stored
//! outside the database.

/// Hashes keys under the server secret.
pub struct KeyHasher {
    _secret: [u8; 32],
}

impl KeyHasher {
    /// From a 32-byte secret.
    pub fn new(secret: [u8; 32]) -> KeyHasher {
        KeyHasher { _secret: secret }
    }

    /// HMAC-SHA256(secret, key).
    pub fn hash(&self, _key: &str) -> [u8; 32] {
        todo!("keys")
    }
}

/// True when `s` has the shape of a weir key (so a malformed one gets its
/// own message). Never logs or echoes `s`.
pub fn looks_like_key(_s: &str) -> bool {
    todo!("keys")
}

/// What may be shown of a key: its first characters.
pub fn display_prefix(_key: &str) -> String {
    todo!("keys")
}

impl KeyHasher {
    /// The hasher of the store at `db`: its secret file, made if missing.
    pub fn for_store(_db: &std::path::Path) -> Result<KeyHasher, String> {
        todo!("keys")
    }
}

/// Constant-time equality of two key hashes.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
