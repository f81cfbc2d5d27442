//! The digest nonce secret shared by every node (`sip.nonce_secret`).
//!
//! A nonce is self-validating under an HMAC secret (`sip::auth::nonce`), so a phone
//! challenged by node A and answering through a dispatcher that picks node B is accepted only
//! when both nodes hold the same secret. A random secret per process (the default) fails 4 of
//! 4 REGISTERs behind a balancing dispatcher, and each failure counts toward the source ban —
//! the proxy's own address gets banned (issue #20).
//!
//! The value is hex or base64 (standard or URL-safe, padding optional), or the path of a file
//! that holds one (`file:/etc/onestatus/nonce.key`, or any value starting with `/` or `./`),
//! so the secret need not sit in the main configuration. At least 16 bytes once decoded
//! (`openssl rand -hex 32` makes a good one). The bytes are hashed to the manager's 32-byte
//! key, so any length above the minimum gives the same kind of key on every node.
//!
//! Or `"store"` ([`IN_STORE`]): the first node to start makes a random secret and keeps it in
//! the store (`cluster_secrets`), and every node reads that one — nothing to distribute, at
//! the price of the secret sitting in the database next to the users' credentials.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// Fewest decoded bytes accepted: below 128 bits a secret can be guessed offline from one
/// captured challenge.
pub const MIN_SECRET_BYTES: usize = 16;

/// Why `sip.nonce_secret` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NonceSecretError {
    /// The file named cannot be read.
    #[error("sip.nonce_secret: cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Neither hex nor base64.
    #[error("sip.nonce_secret: neither hex nor base64")]
    NotEncoded,
    /// Too short to be a secret.
    #[error("sip.nonce_secret: {0} bytes decoded, at least {MIN_SECRET_BYTES} are needed")]
    TooShort(usize),
    /// `"store"`, and the store could not give the shared secret.
    #[error("sip.nonce_secret = \"store\": {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The value that keeps the secret in the store.
pub const IN_STORE: &str = "store";
/// The secret's row in `cluster_secrets`.
const STORE_ROW: &str = "digest_nonce_secret";

/// [`resolve`], with `"store"` read from (or, by the first node, written to) `store`.
pub async fn resolve_with_store(
    value: &str,
    store: &crate::store::Store,
) -> Result<Option<[u8; 32]>, NonceSecretError> {
    if value.trim() != IN_STORE {
        return resolve(value);
    }
    let mut candidate = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut candidate);
    let shared = store
        .cluster_secret(STORE_ROW, &hex::encode(candidate))
        .await?;
    resolve(&shared)
}

/// The 32-byte key for `NonceManager::with_secret`, or `None` when the setting is empty (a
/// random secret per process then).
pub fn resolve(value: &str) -> Result<Option<[u8; 32]>, NonceSecretError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let path = value
        .strip_prefix("file:")
        .or_else(|| (value.starts_with('/') || value.starts_with("./")).then_some(value));
    let text = match path {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|source| NonceSecretError::Unreadable {
                path: path.into(),
                source,
            })?
        }
        None => value.to_owned(),
    };
    let bytes = decode(text.trim()).ok_or(NonceSecretError::NotEncoded)?;
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(NonceSecretError::TooShort(bytes.len()));
    }
    let mut hasher = Sha256::new();
    hasher.update(b"onestatus digest nonce secret\0");
    hasher.update(&bytes);
    Ok(Some(hasher.finalize().into()))
}

/// Hex when it reads as hex, else base64.
fn decode(text: &str) -> Option<Vec<u8>> {
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(text).ok();
    }
    base64(text)
}

/// RFC 4648 §4 and §5 (both alphabets), padding optional.
fn base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // One leftover sextet cannot end a valid encoding.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn empty_means_random_per_process() {
        assert!(resolve("").unwrap().is_none());
        assert!(resolve("  ").unwrap().is_none());
    }

    #[test]
    fn hex_base64_and_file_give_the_same_key() {
        let from_hex = resolve(HEX).unwrap().unwrap();
        let raw = hex::decode(HEX).unwrap();
        // The same 32 bytes in base64, padded and unpadded, standard alphabet.
        let b64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
        assert_eq!(base64(b64).unwrap(), raw);
        assert_eq!(resolve(b64).unwrap().unwrap(), from_hex);
        assert_eq!(
            resolve(b64.trim_end_matches('=')).unwrap().unwrap(),
            from_hex
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nonce.key");
        std::fs::write(&file, format!("{HEX}\n")).unwrap();
        assert_eq!(
            resolve(&format!("file:{}", file.display()))
                .unwrap()
                .unwrap(),
            from_hex
        );
        assert_eq!(
            resolve(&file.display().to_string()).unwrap().unwrap(),
            from_hex
        );
        // Another secret, another key.
        assert_ne!(resolve(&HEX.replace('0', "1")).unwrap().unwrap(), from_hex);
    }

    #[tokio::test]
    async fn the_store_keeps_the_first_nodes_secret_for_all() {
        let store = crate::store::Store::connect("sqlite::memory:")
            .await
            .unwrap();
        let first = resolve_with_store("store", &store).await.unwrap().unwrap();
        let second = resolve_with_store(" store ", &store)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first, second);
        // Another value is not looked up.
        assert_eq!(
            resolve_with_store(HEX, &store).await.unwrap(),
            resolve(HEX).unwrap()
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        assert!(matches!(
            resolve("0011"),
            Err(NonceSecretError::TooShort(2))
        ));
        assert!(matches!(
            resolve("not a secret!"),
            Err(NonceSecretError::NotEncoded)
        ));
        assert!(matches!(
            resolve("file:/nonexistent/onestatus-nonce"),
            Err(NonceSecretError::Unreadable { .. })
        ));
    }
}
