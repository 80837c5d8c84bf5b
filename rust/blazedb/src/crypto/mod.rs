//! Encryption at rest: keys, key derivation and the password policy.
//!
//! The design is argued in `docs/SECURITY.md`. In short: the whole file is encrypted block
//! by block under a random data key by an encrypting redb storage backend
//! ([`backend::EncryptedBackend`]); the data key is wrapped by a key-encryption key that
//! comes from the password through Argon2id, or is the caller's raw 32-byte key.

pub(crate) mod aead;
pub(crate) mod backend;

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Argon2id cost parameters, stored in the file so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): about 50 ms here, so a
    /// cold open stays far under upstream's 1 s PBKDF2 while offline guessing stays costly.
    fn default() -> Self {
        KdfParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Refuses parameters Argon2 rejects or that are too weak to mean anything.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.memory_kib < 8 * 1024 || self.iterations < 1 || self.parallelism < 1 {
            return Err(Error::InvalidInput(
                "Argon2id needs at least 8 MiB of memory, 1 pass and 1 lane".into(),
            ));
        }
        if self.memory_kib > 4 * 1024 * 1024 || self.iterations > 64 || self.parallelism > 64 {
            return Err(Error::InvalidInput(
                "Argon2id parameters are beyond what a device can open".into(),
            ));
        }
        Ok(())
    }
}

/// What unlocks an encrypted database.
#[derive(Clone)]
pub enum Secret {
    /// A password, stretched with Argon2id and the file's salt.
    Password(Zeroizing<String>),
    /// A random 32-byte key kept by the app (Keychain, Keystore); used as is, no KDF.
    Key(Zeroizing<[u8; 32]>),
}

impl Secret {
    /// A password secret.
    pub fn password(p: impl Into<String>) -> Self {
        Secret::Password(Zeroizing::new(p.into()))
    }

    /// A raw-key secret.
    pub fn key(k: [u8; 32]) -> Self {
        Secret::Key(Zeroizing::new(k))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Secret::Password(<redacted>)"),
            Secret::Key(_) => f.write_str("Secret::Key(<redacted>)"),
        }
    }
}

/// Key source byte stored in the file header.
pub(crate) const SOURCE_PASSWORD: u8 = 1;
/// Key source byte stored in the file header.
pub(crate) const SOURCE_RAW_KEY: u8 = 2;

impl Secret {
    pub(crate) fn source(&self) -> u8 {
        match self {
            Secret::Password(_) => SOURCE_PASSWORD,
            Secret::Key(_) => SOURCE_RAW_KEY,
        }
    }

    /// The key-encryption key for this secret under `salt` and `params`.
    pub(crate) fn derive_kek(
        &self,
        salt: &[u8; 16],
        params: &KdfParams,
    ) -> Result<Zeroizing<[u8; 32]>> {
        match self {
            Secret::Key(k) => Ok(k.clone()),
            Secret::Password(p) => {
                let argon_params = argon2::Params::new(
                    params.memory_kib,
                    params.iterations,
                    params.parallelism,
                    Some(32),
                )
                .map_err(|e| Error::CorruptedData(format!("stored KDF parameters: {e}")))?;
                let argon = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    argon_params,
                );
                let mut out = Zeroizing::new([0u8; 32]);
                // Our own working memory, wiped on drop: `hash_password_into` frees its
                // blocks unwiped, and the last of them yields the key with one hash.
                let mut memory =
                    Zeroizing::new(vec![argon2::Block::default(); argon.params().block_count()]);
                argon
                    .hash_password_into_with_memory(
                        p.as_bytes(),
                        salt,
                        out.as_mut(),
                        memory.as_mut_slice(),
                    )
                    .map_err(|e| Error::InvalidInput(format!("key derivation: {e}")))?;
                Ok(out)
            }
        }
    }
}

/// Upstream's policy (`Requirements.recommended`): at least 12 characters with an upper-case
/// letter, a lower-case letter and a digit. Returns each missing rule in words.
pub fn password_policy_failures(password: &str) -> Vec<String> {
    let mut missing = Vec::new();
    if password.chars().count() < 12 {
        missing.push("at least 12 characters".to_string());
    }
    if !password.chars().any(char::is_uppercase) {
        missing.push("an upper-case letter".to_string());
    }
    if !password.chars().any(char::is_lowercase) {
        missing.push("a lower-case letter".to_string());
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit".to_string());
    }
    missing
}

/// Applies the policy to a secret (raw keys always pass).
pub(crate) fn check_policy(secret: &Secret) -> Result<()> {
    if let Secret::Password(p) = secret {
        let missing = password_policy_failures(p);
        if !missing.is_empty() {
            return Err(Error::PasswordTooWeak { missing });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key must stay what the crate's own `hash_password_into` gives: files written
    /// before the working memory became ours were keyed with it.
    #[test]
    fn derive_kek_matches_argon2id_with_its_own_memory() {
        let params = KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        };
        let salt = [9u8; 16];
        let ours = Secret::Password(Zeroizing::new("Correct-Horse-42".to_string()))
            .derive_kek(&salt, &params)
            .unwrap();
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, Some(32)).unwrap(),
        );
        let mut theirs = [0u8; 32];
        argon
            .hash_password_into(b"Correct-Horse-42", &salt, &mut theirs)
            .unwrap();
        assert_eq!(*ours, theirs);
        let other = Secret::Password(Zeroizing::new("Correct-Horse-43".to_string()))
            .derive_kek(&salt, &params)
            .unwrap();
        assert_ne!(*other, theirs);
    }
}
