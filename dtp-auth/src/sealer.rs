//! Sealing credentials for storage: XChaCha20-Poly1305 with a key the
//! embedding application supplies.

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use dtp_core::{AuthData, AuthSealer, Result, SealedAuth};
use secrecy::SecretBox;
use secrecy::zeroize::Zeroizing;

use crate::error::AuthFailure;

/// Format version byte at the start of every sealed blob.
const VERSION: u8 = 1;
/// XChaCha20 nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;
/// Associated data binding the ciphertext to its purpose and format.
const AAD: &[u8] = b"dtp-auth/sealed-auth/v1";

/// An [`AuthSealer`] using XChaCha20-Poly1305 (random 192-bit nonce per
/// seal, so one key can seal any number of blobs).
///
/// Blob layout: version byte `1` ‖ 24-byte nonce ‖ ciphertext ‖ 16-byte tag,
/// with the format name as associated data. A blob that was altered, cut
/// short or sealed under another key fails to open with
/// [`ErrorKind::InvalidData`](dtp_core::ErrorKind::InvalidData) and
/// [`AuthFailure::SealBroken`]. Old keys can be kept for opening while new
/// blobs are sealed under the current key (key rotation).
///
/// ```
/// use dtp_auth::{XChaChaSealer, auth_failure, AuthFailure};
/// use dtp_core::{AuthData, AuthSealer};
///
/// let key = [7u8; 32]; // from the application's secret store
/// let sealer = XChaChaSealer::new(&key);
/// let sealed = sealer.seal(&AuthData::basic("alice", "app-password"))?;
/// assert!(!sealed.0.windows(12).any(|w| w == b"app-password"));
/// let opened = sealer.open(&sealed)?;
/// assert_eq!(opened.kind_name(), "basic");
///
/// let other = XChaChaSealer::new(&[8u8; 32]);
/// let err = other.open(&sealed).unwrap_err();
/// assert_eq!(auth_failure(&err), Some(&AuthFailure::SealBroken));
/// # Ok::<(), dtp_core::Error>(())
/// ```
pub struct XChaChaSealer {
    current: XChaCha20Poly1305,
    previous: Vec<XChaCha20Poly1305>,
}

impl fmt::Debug for XChaChaSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "XChaChaSealer([REDACTED], {} previous keys)",
            self.previous.len()
        )
    }
}

impl XChaChaSealer {
    /// Key length in bytes.
    pub const KEY_LEN: usize = 32;

    /// A sealer with a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        XChaChaSealer {
            current: XChaCha20Poly1305::new(key.into()),
            previous: Vec::new(),
        }
    }

    /// A sealer from a key given as a byte slice, which must be exactly
    /// [`KEY_LEN`](Self::KEY_LEN) bytes long.
    pub fn from_slice(key: &[u8]) -> Result<Self> {
        let key: &[u8; 32] = key.try_into().map_err(|_| {
            AuthFailure::Config {
                reason: format!("a sealing key must be {} bytes", Self::KEY_LEN),
            }
            .into_error("seal_auth")
        })?;
        Ok(Self::new(key))
    }

    /// Also opens blobs sealed under `key` (an older key being rotated out).
    pub fn with_previous_key(mut self, key: &[u8; 32]) -> Self {
        self.previous.push(XChaCha20Poly1305::new(key.into()));
        self
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate_key() -> SecretBox<[u8; 32]> {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        SecretBox::new(Box::new(key.into()))
    }

    fn broken() -> dtp_core::Error {
        AuthFailure::SealBroken.into_error("open_auth")
    }
}

impl AuthSealer for XChaChaSealer {
    fn seal(&self, auth: &AuthData) -> Result<SealedAuth> {
        let plaintext = Zeroizing::new(serde_json::to_vec(auth).map_err(|_| {
            dtp_core::Error::internal("credentials could not be serialized")
                .with_operation("seal_auth")
        })?);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: AAD,
                },
            )
            .map_err(|_| dtp_core::Error::internal("sealing failed").with_operation("seal_auth"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(SealedAuth(out))
    }

    fn open(&self, sealed: &SealedAuth) -> Result<AuthData> {
        let bytes = &sealed.0;
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(Self::broken());
        };
        if version != VERSION {
            return Err(AuthFailure::SealVersion { version }.into_error("open_auth"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Self::broken());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::from_slice(nonce);
        let payload = || Payload {
            msg: ciphertext,
            aad: AAD,
        };
        let plaintext = std::iter::once(&self.current)
            .chain(&self.previous)
            .find_map(|cipher| cipher.decrypt(nonce, payload()).ok())
            .map(Zeroizing::new)
            .ok_or_else(Self::broken)?;
        // Authentic, so written by a sealer; never echo parse errors (they
        // may quote secret values).
        serde_json::from_slice(&plaintext).map_err(|_| Self::broken())
    }
}

/// Reads a key given as 64 hexadecimal digits (as kept in an environment
/// variable or a secrets file).
///
/// ```
/// let key = dtp_auth::key_from_hex(&"ab".repeat(32))?;
/// let _sealer = dtp_auth::XChaChaSealer::new(secrecy::ExposeSecret::expose_secret(&key));
/// # Ok::<(), dtp_core::Error>(())
/// ```
pub fn key_from_hex(hex: &str) -> Result<SecretBox<[u8; 32]>> {
    let bad = || {
        AuthFailure::Config {
            reason: "a sealing key must be 64 hexadecimal digits".into(),
        }
        .into_error("seal_auth")
    };
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return Err(bad());
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = Box::new([0u8; 32]);
    for (i, pair) in hex.chunks(2).enumerate() {
        let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
            return Err(bad());
        };
        key[i] = hi << 4 | lo;
    }
    Ok(SecretBox::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_failure;
    use dtp_core::{ErrorKind, OAuthTokens};
    use secrecy::ExposeSecret;

    fn oauth() -> AuthData {
        AuthData::OAuth2(
            OAuthTokens::new("access-SECRET")
                .with_refresh_token("refresh-SECRET")
                .with_expires_at(1_900_000_000)
                .with_scopes(["a", "b"]),
        )
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn round_trip_and_no_plaintext() {
        let s = XChaChaSealer::new(&[1; 32]);
        let sealed = s.seal(&oauth()).unwrap();
        assert_eq!(sealed.0[0], VERSION);
        assert!(!contains(&sealed.0, b"SECRET"));
        match s.open(&sealed).unwrap() {
            AuthData::OAuth2(t) => {
                assert_eq!(t.access_token.expose_secret(), "access-SECRET");
                assert_eq!(t.refresh_token.unwrap().expose_secret(), "refresh-SECRET");
                assert_eq!(t.expires_at, Some(1_900_000_000));
            }
            other => panic!("{other:?}"),
        }
        // Fresh nonce every time.
        assert_ne!(s.seal(&oauth()).unwrap(), s.seal(&oauth()).unwrap());
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let s = XChaChaSealer::new(&[2; 32]);
        let sealed = s.seal(&AuthData::api_key("k")).unwrap();
        for i in 1..sealed.0.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = sealed.clone();
                t.0[i] ^= bit;
                let err = s.open(&t).unwrap_err();
                assert_eq!(err.kind(), &ErrorKind::InvalidData);
                assert_eq!(auth_failure(&err), Some(&AuthFailure::SealBroken));
            }
        }
    }

    #[test]
    fn wrong_key_truncation_and_version_are_typed() {
        let s = XChaChaSealer::new(&[3; 32]);
        let sealed = s.seal(&oauth()).unwrap();
        let e = XChaChaSealer::new(&[4; 32]).open(&sealed).unwrap_err();
        assert_eq!(auth_failure(&e), Some(&AuthFailure::SealBroken));
        for len in [0, 1, 10, 1 + NONCE_LEN + TAG_LEN - 1] {
            let e = s.open(&SealedAuth(sealed.0[..len].to_vec())).unwrap_err();
            assert_eq!(
                auth_failure(&e),
                Some(&AuthFailure::SealBroken),
                "len {len}"
            );
        }
        let mut v2 = sealed.clone();
        v2.0[0] = 2;
        let e = s.open(&v2).unwrap_err();
        assert_eq!(
            auth_failure(&e),
            Some(&AuthFailure::SealVersion { version: 2 })
        );
        assert!(!format!("{e} {e:?}").contains("SECRET"));
    }

    #[test]
    fn previous_keys_open_old_blobs_and_new_blobs_use_the_current_key() {
        let old = XChaChaSealer::new(&[5; 32]);
        let blob = old.seal(&oauth()).unwrap();
        let rotated = XChaChaSealer::new(&[6; 32]).with_previous_key(&[5; 32]);
        assert!(rotated.open(&blob).is_ok());
        let new_blob = rotated.seal(&oauth()).unwrap();
        assert!(old.open(&new_blob).is_err());
        assert!(XChaChaSealer::new(&[6; 32]).open(&new_blob).is_ok());
    }

    #[test]
    fn keys_from_slices_and_hex() {
        assert!(XChaChaSealer::from_slice(&[0; 31]).is_err());
        assert!(XChaChaSealer::from_slice(&[0; 32]).is_ok());
        let k = key_from_hex(&"0f".repeat(32)).unwrap();
        assert_eq!(k.expose_secret(), &[0x0f; 32]);
        assert!(key_from_hex("zz").is_err());
        assert!(key_from_hex(&"g0".repeat(32)).is_err());
        let a = XChaChaSealer::generate_key();
        let b = XChaChaSealer::generate_key();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(
            format!("{:?}", XChaChaSealer::new(a.expose_secret())),
            "XChaChaSealer([REDACTED], 0 previous keys)"
        );
    }
}
