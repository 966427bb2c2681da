//! The vault's ciphertext parsing (`Vault::decrypt`): any bytes are refused cleanly (malformed,
//! unknown key, or rejected), never a panic and never a plaintext; a real ciphertext decrypts
//! only for its own row, and any change to it (version, key id, nonce, body, tag, length) is
//! refused. The key-file parser (`Vault::from_key_lines`) gets the same bytes as text.
#![no_main]

use std::sync::LazyLock;

use gumstack_platform::vault::{Aad, Vault, VaultError};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// Two keys (`k-old` still decrypts, `k-new` seals); a second vault sharing only `k-old`'s id.
static VAULT: LazyLock<Vault> = LazyLock::new(|| {
    Vault::from_key_lines(&format!("k-old {}\nk-new {}\n", key(1), key(2))).unwrap()
});
static IMPOSTOR: LazyLock<Vault> =
    LazyLock::new(|| Vault::from_key_lines(&format!("k-old {}\n", key(3))).unwrap());

fn key(byte: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

const TABLES: [&str; 3] = ["env_vars", "credentials", "connections"];
const FIELDS: [&str; 2] = ["value", "access_token"];

fn aad(selector: u8, a: u128, b: u128) -> Aad {
    Aad::new(
        TABLES[usize::from(selector) % TABLES.len()],
        FIELDS[usize::from(selector / 3) % FIELDS.len()],
        &[Uuid::from_u128(a), Uuid::from_u128(b)],
    )
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Vault::from_key_lines(text);
    }
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 0x80 == 0 {
        // Raw bytes as a stored ciphertext: nobody without the key makes one that decrypts. The
        // row is one nothing is ever sealed for (a ciphertext the fuzzer saw sealed below, for
        // a row of its own, would rightly decrypt there).
        match VAULT.decrypt(rest, &aad(mode, 9, 9)) {
            Ok(_) => panic!("forged ciphertext decrypted: {rest:?}"),
            Err(VaultError::Malformed | VaultError::UnknownKey(_) | VaultError::Rejected) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
        return;
    }
    // A real ciphertext of `plaintext`, then the edits the rest of the input describes.
    let row = aad(mode, 1, 2);
    let (plaintext, edits) = rest.split_at(rest.len().min(usize::from(mode & 0x3f)));
    let sealed = VAULT.encrypt(plaintext, &row);
    assert_eq!(VAULT.decrypt(&sealed, &row).unwrap().as_slice(), plaintext);
    for other in [
        aad(mode, 1, 3),
        aad(mode, 2, 1),
        aad(mode.wrapping_add(1), 1, 2),
    ] {
        assert!(matches!(
            VAULT.decrypt(&sealed, &other),
            Err(VaultError::Rejected)
        ));
    }
    assert!(IMPOSTOR.decrypt(&sealed, &row).is_err());

    let mut edited = sealed.clone();
    for edit in edits.chunks(3) {
        let &[op, at, value] = edit else { break };
        let at = usize::from(at);
        match op % 4 {
            0 if !edited.is_empty() => {
                let i = at % edited.len();
                edited[i] ^= value.max(1);
            }
            1 => edited.truncate(at),
            2 => edited.push(value),
            3 if !edited.is_empty() => {
                let i = at % edited.len();
                edited.insert(i, value);
            }
            _ => {}
        }
    }
    let result = VAULT.decrypt(&edited, &row);
    if edited == sealed {
        assert_eq!(result.unwrap().as_slice(), plaintext);
    } else {
        assert!(
            result.is_err(),
            "an edited ciphertext decrypted: {edited:?}"
        );
        if edited.first() != Some(&1) {
            assert!(matches!(result, Err(VaultError::Malformed)));
        }
    }
    assert!(VAULT.decrypt(&edited, &aad(mode, 1, 3)).is_err());
});
