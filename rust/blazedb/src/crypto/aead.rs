//! AES-256-GCM-SIV (RFC 8452), the one cipher of the file format, over aws-lc-rs.
//!
//! Why aws-lc: every redb cache miss of an encrypted database opens one 4 KiB block, so
//! the cipher's speed is the encrypted read path's cost. On this project's benchmark
//! machine aws-lc's assembly opens a block in about 1.0 µs against 1.65 µs for the
//! RustCrypto `aes-gcm-siv` crate (POLYVAL there goes four blocks at a time; see
//! docs/BENCHMARKS.md section 2). The output is the RFC's, byte for byte, so files written
//! by either implementation open with the other; `rfc8452_vectors` pins that.
//!
//! Key material lives inside aws-lc's `EVP_AEAD_CTX`, which aws-lc wipes when it frees it
//! (`OPENSSL_free` cleanses); tags are compared in constant time (`CRYPTO_memcmp`).

use std::io;

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, Nonce, UnboundKey};

/// Nonce length in bytes.
pub(crate) const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub(crate) const TAG_LEN: usize = 16;

/// An AES-256-GCM-SIV key. GCM-SIV derives fresh message keys from each nonce, so a
/// repeated nonce reveals only that two messages (with their associated data) were equal.
pub(crate) struct SivKey(LessSafeKey);

/// Authentication failed: the ciphertext, its tag, the nonce or the associated data is not
/// what was sealed under this key. The output buffer's contents are then unspecified.
#[derive(Debug)]
pub(crate) struct Unauthentic;

impl SivKey {
    /// A key from its 32 bytes. aws-lc refuses only keys of another length, which the type
    /// rules out; its refusal is still an error here, never a panic inside a commit.
    pub(crate) fn new(key: &[u8; 32]) -> io::Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM_SIV, key)
            .map_err(|_| io::Error::other("aws-lc refused an AES-256-GCM-SIV key"))?;
        Ok(SivKey(LessSafeKey::new(unbound)))
    }

    /// Encrypts `buf` in place and returns its tag. aws-lc fails only for inputs beyond
    /// GCM-SIV's limit (2^36 bytes), far above a block or a key.
    pub(crate) fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> io::Result<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map_err(|_| io::Error::other("AES-256-GCM-SIV encryption failed"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `buf` in place after checking `tag`.
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Unauthentic> {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                tag,
                buf,
            )
            .map(|_| ())
            .map_err(|_| Unauthentic)
    }

    /// Decrypts `ciphertext` into `out` (the same length) after checking `tag`; on failure
    /// `out` is zeroed, so no unauthenticated plaintext leaves this call.
    pub(crate) fn open_into(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<(), Unauthentic> {
        if ciphertext.len() != out.len() {
            return Err(Unauthentic);
        }
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                ciphertext,
                tag,
                out,
            )
            .map_err(|_| {
                out.fill(0);
                Unauthentic
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8452 appendix C.2 (AEAD_AES_256_GCM_SIV): files written before the switch to
    /// aws-lc (by RustCrypto's crate) open only if both produce the RFC's bytes.
    #[test]
    fn rfc8452_vectors() {
        // (aad, plaintext, ciphertext ‖ tag), all under the RFC's key 01… and nonce 03….
        let key = "0100000000000000000000000000000000000000000000000000000000000000";
        let nonce = "030000000000000000000000";
        let cases = [
            (
                "",
                "0100000000000000",
                "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28",
            ),
            (
                "",
                "0100000000000000000000000000000002000000000000000000000000000000\
                 0300000000000000000000000000000004000000000000000000000000000000",
                "c2d5160a1f8683834910acdafc41fbb1632d4a353e8b905ec9a5499ac34f96c7\
                 e1049eb080883891a4db8caaa1f99dd004d80487540735234e3744512c6f90ce\
                 112864c269fc0d9d88c61fa47e39aa08",
            ),
            (
                "01",
                "0200000000000000",
                "1de22967237a813291213f267e3b452f02d01ae33e4ec854",
            ),
        ];
        for (aad, plain, sealed) in cases {
            let key: [u8; 32] = hex(key).try_into().unwrap();
            let nonce: [u8; 12] = hex(nonce).try_into().unwrap();
            let (aad, plain, sealed) = (hex(aad), hex(plain), hex(sealed));
            let k = SivKey::new(&key).unwrap();
            let mut buf = plain.clone();
            let tag = k.seal(nonce, &aad, &mut buf).unwrap();
            assert_eq!([buf.as_slice(), tag.as_slice()].concat(), sealed);
            let (ct, t) = sealed.split_at(plain.len());
            let mut back = ct.to_vec();
            k.open(nonce, &aad, &mut back, t).unwrap();
            assert_eq!(back, plain);
            let mut out = vec![0u8; ct.len()];
            k.open_into(nonce, &aad, ct, t, &mut out).unwrap();
            assert_eq!(out, plain);
        }
    }

    /// Blocks sealed by RustCrypto's `aes-gcm-siv` (the cipher of files written before the
    /// switch) open here, and the other way round, for block-sized random inputs.
    #[test]
    fn agrees_with_rustcrypto_both_ways() {
        use aes_gcm_siv::aead::{AeadInOut, KeyInit};
        use rand::{Rng, RngCore};
        let mut rng = rand::thread_rng();
        for len in [0usize, 1, 15, 16, 17, 100, 4096] {
            let mut key = [0u8; 32];
            let mut nonce = [0u8; 12];
            let mut plain = vec![0u8; len];
            let mut aad = vec![0u8; rng.gen_range(0..64)];
            for b in [&mut key[..], &mut nonce[..], &mut plain[..], &mut aad[..]] {
                rng.fill_bytes(b);
            }
            let theirs = aes_gcm_siv::Aes256GcmSiv::new_from_slice(&key).unwrap();
            let ours = SivKey::new(&key).unwrap();
            let mut a = plain.clone();
            let tag_a = theirs
                .encrypt_inout_detached(&nonce.into(), &aad, a.as_mut_slice().into())
                .unwrap();
            let mut b = plain.clone();
            let tag_b = ours.seal(nonce, &aad, &mut b).unwrap();
            assert_eq!(
                (a.as_slice(), tag_a.as_slice()),
                (b.as_slice(), tag_b.as_slice())
            );
            let mut out = vec![0u8; len];
            ours.open_into(nonce, &aad, &a, &tag_a, &mut out).unwrap();
            assert_eq!(out, plain);
            theirs
                .decrypt_inout_detached(&nonce.into(), &aad, b.as_mut_slice().into(), &tag_b.into())
                .unwrap();
            assert_eq!(b, plain);
        }
    }

    #[test]
    fn any_change_fails_and_leaves_no_plaintext() {
        let k = SivKey::new(&[9u8; 32]).unwrap();
        let plain = vec![0x5au8; 4096];
        let mut ct = plain.clone();
        let tag = k.seal([1u8; 12], b"aad", &mut ct).unwrap();
        let mut out = vec![0u8; 4096];
        k.open_into([1u8; 12], b"aad", &ct, &tag, &mut out).unwrap();
        assert_eq!(out, plain);
        let mut bad = ct.clone();
        bad[100] ^= 1;
        assert!(
            k.open_into([1u8; 12], b"aad", &bad, &tag, &mut out)
                .is_err()
        );
        assert!(
            out.iter().all(|&b| b == 0),
            "unauthenticated plaintext left behind"
        );
        assert!(k.open_into([2u8; 12], b"aad", &ct, &tag, &mut out).is_err());
        assert!(k.open_into([1u8; 12], b"aax", &ct, &tag, &mut out).is_err());
        assert!(
            SivKey::new(&[8u8; 32])
                .unwrap()
                .open([1u8; 12], b"aad", &mut ct.clone(), &tag)
                .is_err()
        );
        let mut short = vec![0u8; 10];
        assert!(
            k.open_into([1u8; 12], b"aad", &ct, &tag, &mut short)
                .is_err()
        );
    }
}
