//! Random tokens: CSRF tokens, the one-time setup token, the sandbox's Plivo token.

/// A fresh random token (CSRF tokens, the setup token): 32 bytes as hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
