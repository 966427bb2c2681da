//! Random tokens, one-way hashes and constant-time comparison for platform-issued secrets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;

/// Fills `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is unrecoverable: nothing secret can be made without it.
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

/// A fresh 256-bit token, URL-safe base64, with a readable prefix (e.g. `gsk_`).
pub fn random_token(prefix: &str) -> SecretString {
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    SecretString::from(token)
}

/// SHA-256 of a platform-issued high-entropy token: what the store keeps instead of the token.
///
/// Plain SHA-256 is right here (unlike for passwords): the tokens carry 256 random bits, so
/// there is nothing to brute-force. One definition for the platform and the SDK.
pub use gumstack_protocol::hash::token_hash;

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A readable random password for generated logins: 20 characters from an unambiguous alphabet
/// (about 110 bits).
pub fn random_password() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<20>();
    let password: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    SecretString::from(password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn tokens_are_unique_and_prefixed() {
        let a = random_token("gsk_");
        let b = random_token("gsk_");
        assert!(a.expose_secret().starts_with("gsk_"));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn constant_time_eq_compares_lengths_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
