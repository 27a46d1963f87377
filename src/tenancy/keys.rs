//! API keys: `weir_<project>_<random>` with >= 128 bits of randomness,
//! shown once, kept only as HMAC-SHA256 under a server secret stored
//! outside the database.
//!
//! Shapes:
//! - a project key: `weir_<project id without "proj_">_<32 base62>`
//!   (190 bits from the OS RNG);
//! - an operator key (`weir admin init`, `weir admin key create --admin`):
//!   `weir_admin_<32 base62>`.
//!
//! The display prefix is everything up to and including the first four
//! random characters (`weir_7Hq2cXk9abcd_AbCd`): what lists, usage and
//! error messages show. The secret is 32 random bytes, hex, in
//! `<db path>.secret` (mode 0600) or the file `WEIR_SECRET_FILE` names.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::tenancy::model::ProjectId;

/// The base62 alphabet of ids and keys.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random characters in a key (32 x log2(62) = 190 bits).
pub const KEY_RANDOM_LEN: usize = 32;

/// Random characters of a key shown in its display prefix.
pub const PREFIX_RANDOM_LEN: usize = 4;

/// Random characters in a project id after `proj_`.
pub const PROJECT_ID_RANDOM_LEN: usize = 12;

/// The fewest random characters a key may have (22 x log2(62) >= 128 bits).
const MIN_RANDOM_LEN: usize = 22;

/// The longest string [`looks_like_key`] accepts.
pub const MAX_KEY_LEN: usize = 128;

/// The middle part of an operator key.
pub const ADMIN_KEY_SEGMENT: &str = "admin";

/// The environment variable naming the secret file instead of
/// `<db path>.secret`.
pub const SECRET_FILE_ENV: &str = "WEIR_SECRET_FILE";

/// Why a key or its secret could not be made or read. Never holds a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The OS random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Rng(String),
    /// The secret file could not be created or read, or holds no secret.
    #[error("the key secret at {path}: {message}")]
    Secret {
        /// The secret file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Hashes keys under the server secret.
#[derive(Clone)]
pub struct KeyHasher {
    /// HMAC-SHA256 keyed with the secret, ready to clone per key.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(..)")
    }
}

impl KeyHasher {
    /// From a 32-byte secret.
    pub fn new(secret: [u8; 32]) -> KeyHasher {
        // HMAC pads a key shorter than the block (64 bytes) with zeros, so
        // this is HMAC keyed with the 32-byte secret, without a fallible
        // constructor.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&secret);
        KeyHasher {
            mac: <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into()),
        }
    }

    /// HMAC-SHA256(secret, key).
    pub fn hash(&self, key: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Compare two key hashes in constant time (the directory checks a
/// presented key's hash against the stored one with this).
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// `n` random base62 characters from the OS RNG (rejection sampling, so
/// every character is uniform).
pub fn random_base62(n: usize) -> Result<String, KeyError> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(|e| KeyError::Rng(e.to_string()))?;
        // 248 = 4 x 62: bytes at or above it would bias the alphabet.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

/// A new project id: `proj_` + 12 base62 characters.
pub fn new_project_id() -> Result<ProjectId, KeyError> {
    Ok(ProjectId(format!(
        "proj_{}",
        random_base62(PROJECT_ID_RANDOM_LEN)?
    )))
}

/// A new internal record id: `prefix` (`key_`, `ep_`) + 12 base62.
pub fn new_record_id(prefix: &str) -> Result<String, KeyError> {
    Ok(format!("{prefix}{}", random_base62(12)?))
}

/// A new key for `project`: `weir_<id without proj_>_<32 base62>`.
pub fn new_project_key(project: &ProjectId) -> Result<String, KeyError> {
    let segment = project.0.strip_prefix("proj_").unwrap_or(&project.0);
    Ok(format!("weir_{segment}_{}", random_base62(KEY_RANDOM_LEN)?))
}

/// A new operator key: `weir_admin_<32 base62>`.
pub fn new_admin_key() -> Result<String, KeyError> {
    Ok(format!(
        "weir_{ADMIN_KEY_SEGMENT}_{}",
        random_base62(KEY_RANDOM_LEN)?
    ))
}

/// True when `s` has the shape of a weir key (so a malformed one gets its
/// own message): `weir_`, an alphanumeric segment, `_`, at least 22
/// alphanumeric characters, at most [`MAX_KEY_LEN`] bytes in all. Looks at
/// no more than [`MAX_KEY_LEN`] bytes of any input and allocates nothing.
/// Never logs or echoes `s`.
pub fn looks_like_key(s: &str) -> bool {
    split_key(s).is_some()
}

/// The key's middle segment and random part, when it is key-shaped.
fn split_key(s: &str) -> Option<(&str, &str)> {
    if s.len() > MAX_KEY_LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let rest = s.strip_prefix("weir_")?;
    let (segment, random) = rest.split_once('_')?;
    let ok = !segment.is_empty() && random.len() >= MIN_RANDOM_LEN && !random.contains('_');
    ok.then_some((segment, random))
}

/// What may be shown of a key: its first characters. For a key-shaped
/// string, everything up to and including the first four random characters
/// (`weir_7Hq2cXk9abcd_AbCd`); for anything else, at most its first eight
/// letters, digits, `-` or `_` and never more than a quarter of it (a
/// malformed key is still a secret).
pub fn display_prefix(key: &str) -> String {
    if let Some((segment, random)) = split_key(key) {
        return format!("weir_{segment}_{}", &random[..PREFIX_RANDOM_LEN]);
    }
    let max = (key.len() / 4).min(8);
    key.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(max)
        .collect()
}

/// Where the secret of the store at `db` lives: `WEIR_SECRET_FILE` when
/// set, else `<db>.secret` beside the database.
pub fn secret_path(db: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os(SECRET_FILE_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let mut p = db.as_os_str().to_os_string();
    p.push(".secret");
    PathBuf::from(p)
}

/// Read the secret (the server side: a missing file is an error, since a
/// new secret would turn every stored key invalid).
pub fn load_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    let fail = |message: String| KeyError::Secret {
        path: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(io_message(&e)))?;
    if meta.len() > 1024 {
        return Err(fail("the file is too large to hold a secret".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(io_message(&e)))?;
    parse_hex_secret(text.trim()).ok_or_else(|| fail("the file does not hold 64 hex digits".into()))
}

/// Read the secret, creating it (32 bytes from the OS RNG, mode 0600,
/// parent directories too) when the file does not exist. Safe when two
/// processes race: the file appears whole or not at all.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    if path.exists() {
        return load_secret(path);
    }
    let fail = |message: String| KeyError::Secret {
        path: path.display().to_string(),
        message,
    };
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| KeyError::Rng(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(io_message(&e)))?;
    }
    // Written whole to a private temporary file, then linked into place:
    // `hard_link` fails if the name exists, so a racing process's secret
    // wins and both then read the same one.
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = write_private(&tmp, &hex(&secret));
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(secret),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_secret(path),
        Err(e) => Err(fail(io_message(&e))),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

fn io_message(e: &std::io::Error) -> String {
    crate::tenancy::store::one_line(&e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex_secret(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl KeyHasher {
    /// The server's hasher for the store at `db`: its secret file
    /// ([`secret_path`]), which must exist (a server never makes one: keys
    /// made under another secret could then never be checked).
    pub fn for_store(db: &Path) -> Result<KeyHasher, String> {
        load_secret(&secret_path(db))
            .map(KeyHasher::new)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_hmac_sha256_keyed_with_the_secret() {
        let secret = [7u8; 32];
        let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&secret).unwrap();
        reference.update(b"weir_abc_def");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        let hasher = KeyHasher::new(secret);
        assert_eq!(hasher.hash("weir_abc_def"), expected);
        assert_ne!(hasher.hash("weir_abc_deg"), expected);
        assert_ne!(KeyHasher::new([8u8; 32]).hash("weir_abc_def"), expected);
        // RFC 4231 test case 2: key "Jefe" (HMAC zero-pads a short key, so
        // the same key padded to 32 bytes gives the published value).
        let mut jefe = [0u8; 32];
        jefe[..4].copy_from_slice(b"Jefe");
        let got = KeyHasher::new(jefe).hash("what do ya want for nothing?");
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hex(&got), want);
    }

    #[test]
    fn hashes_compare_by_value() {
        let h = KeyHasher::new([1u8; 32]);
        assert!(hashes_equal(&h.hash("a"), &h.hash("a")));
        assert!(!hashes_equal(&h.hash("a"), &h.hash("b")));
    }

    #[test]
    fn keys_have_the_documented_shape() {
        let project = new_project_id().unwrap();
        assert!(project.0.starts_with("proj_"));
        assert_eq!(project.0.len(), 5 + PROJECT_ID_RANDOM_LEN);
        assert!(project.0[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let key = new_project_key(&project).unwrap();
        assert!(key.starts_with(&format!("weir_{}_", &project.0[5..])));
        assert!(looks_like_key(&key), "{key}");
        let prefix = display_prefix(&key);
        assert_eq!(prefix.len(), "weir_".len() + PROJECT_ID_RANDOM_LEN + 1 + 4);
        assert!(key.starts_with(&prefix));
        let admin = new_admin_key().unwrap();
        assert!(admin.starts_with("weir_admin_") && looks_like_key(&admin));
        assert_eq!(display_prefix(&admin).len(), "weir_admin_".len() + 4);
        assert_ne!(new_admin_key().unwrap(), admin);
    }

    #[test]
    fn random_characters_cover_the_alphabet() {
        let s = random_base62(20_000).unwrap();
        let mut seen = [0usize; 62];
        for b in s.bytes() {
            let i = BASE62.iter().position(|&c| c == b).unwrap();
            seen[i] += 1;
        }
        // ~322 expected per character; a biased or broken generator fails.
        assert!(seen.iter().all(|&n| n > 200 && n < 450), "{seen:?}");
    }

    #[test]
    fn malformed_keys_are_told_apart() {
        let good = format!("weir_abc_{}", "A".repeat(22));
        assert!(looks_like_key(&good));
        for bad in [
            "",
            "weir_",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
            &format!("weir_abc_{}", "A".repeat(21)),
            &format!("weir__{}", "A".repeat(30)),
            &format!("weir_abc_{}_x", "A".repeat(30)),
            &format!("weir_abc_{}", "A/".repeat(20)),
            &format!("weir_abc_{}", "é".repeat(22)),
            &format!("Weir_abc_{}", "A".repeat(22)),
        ] {
            assert!(!looks_like_key(bad), "{bad}");
        }
        let huge = format!("weir_abc_{}", "A".repeat(10_000_000));
        assert!(!looks_like_key(&huge));
        assert!(!looks_like_key(&format!(
            "weir_abc_{}",
            "A".repeat(MAX_KEY_LEN)
        )));
    }

    #[test]
    fn display_prefix_of_a_malformed_key_shows_little() {
        let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
        let shown = display_prefix(secret);
        assert_eq!(shown, "sk-proj-");
        assert_eq!(display_prefix("short"), "s");
        assert_eq!(display_prefix("ab/cdefghijklmnop"), "ab");
        assert_eq!(display_prefix(""), "");
    }

    #[test]
    fn secret_is_created_private_once_then_loaded() {
        let dir = crate::tenancy::test_dir::TestDir::new("secret");
        let path = dir.path().join("sub").join("weir.db.secret");
        assert!(load_secret(&path).is_err());
        let a = load_or_create_secret(&path).unwrap();
        let b = load_or_create_secret(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(load_secret(&path).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        let err = load_secret(&path).unwrap_err().to_string();
        assert!(
            err.contains("weir.db.secret") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn secret_path_sits_beside_the_database() {
        if std::env::var_os(SECRET_FILE_ENV).is_none() {
            assert_eq!(
                secret_path(Path::new("/data/weir.db")),
                PathBuf::from("/data/weir.db.secret")
            );
        }
    }
}
