//! The vault's unit tests: sealing, binding, key files and their reload.

use super::*;

fn aad(ids: &[Uuid]) -> Aad {
    Aad::new("env_vars", "value", ids)
}

#[test]
fn round_trip_carries_key_id() {
    let vault = Vault::generate();
    let ids = [Uuid::new_v4(), Uuid::new_v4()];
    let ct = vault.encrypt(b"hunter2", &aad(&ids));
    let kid = vault.active_key_id();
    let kid = kid.as_bytes();
    assert_eq!(&ct[2..2 + kid.len()], kid);
    assert_eq!(
        vault.decrypt(&ct, &aad(&ids)).unwrap().as_slice(),
        b"hunter2"
    );
}

#[test]
fn ciphertext_moved_to_another_row_or_field_is_rejected() {
    let vault = Vault::generate();
    let (server, row) = (Uuid::new_v4(), Uuid::new_v4());
    let ct = vault.encrypt(b"secret", &aad(&[server, row]));
    let other_row = aad(&[server, Uuid::new_v4()]);
    assert!(matches!(
        vault.decrypt(&ct, &other_row),
        Err(VaultError::Rejected)
    ));
    let other_field = Aad::new("env_vars", "name", &[server, row]);
    assert!(matches!(
        vault.decrypt(&ct, &other_field),
        Err(VaultError::Rejected)
    ));
    let other_table = Aad::new("credentials", "value", &[server, row]);
    assert!(matches!(
        vault.decrypt(&ct, &other_table),
        Err(VaultError::Rejected)
    ));
}

#[test]
fn tampering_is_detected() {
    let vault = Vault::generate();
    let ids = [Uuid::new_v4()];
    let mut ct = vault.encrypt(b"secret", &aad(&ids));
    let last = ct.len() - 1;
    ct[last] ^= 1;
    assert!(matches!(
        vault.decrypt(&ct, &aad(&ids)),
        Err(VaultError::Rejected)
    ));
    assert!(matches!(
        vault.decrypt(&[], &aad(&ids)),
        Err(VaultError::Malformed)
    ));
    assert!(matches!(
        vault.decrypt(&[1, 40, 1], &aad(&ids)),
        Err(VaultError::Malformed)
    ));
}

#[test]
fn old_keys_still_decrypt_and_unknown_keys_are_named() {
    let old = Vault::generate();
    let ids = [Uuid::new_v4()];
    let ct = old.encrypt(b"v", &aad(&ids));
    let other = Vault::generate();
    assert!(matches!(
        other.decrypt(&ct, &aad(&ids)),
        Err(VaultError::UnknownKey(_))
    ));
    // A key file gaining a newer active key still decrypts what the older key sealed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let vault = Vault::open_or_create(&path).unwrap();
    let ct2 = vault.encrypt(b"w", &aad(&ids));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&key_file::new_key_line().1);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    let rotated = Vault::open(&path).unwrap();
    assert_ne!(rotated.active_key_id(), vault.active_key_id());
    assert_eq!(rotated.decrypt(&ct2, &aad(&ids)).unwrap().as_slice(), b"w");
}

#[test]
fn key_file_is_created_owner_only_and_loose_permissions_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let vault = Vault::open_or_create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Reopening yields the same key.
    let ids = [Uuid::new_v4()];
    let ct = vault.encrypt(b"x", &aad(&ids));
    assert!(Vault::open(&path).unwrap().decrypt(&ct, &aad(&ids)).is_ok());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Vault::open(&path).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn malformed_key_lines_are_explained() {
    assert!(Vault::from_key_lines("").unwrap_err().contains("no key"));
    assert!(
        Vault::from_key_lines("k1 !!!")
            .unwrap_err()
            .contains("base64")
    );
    assert!(
        Vault::from_key_lines("k1 AAAA")
            .unwrap_err()
            .contains("32 bytes")
    );
}

fn key_file_with(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    let mut text = String::from("# test keys\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn several_key_files_merge_and_the_last_line_of_the_last_file_is_active() {
    let dir = tempfile::tempdir().unwrap();
    let (a, line_a) = key_file::new_key_line();
    let (b, line_b) = key_file::new_key_line();
    let (c, line_c) = key_file::new_key_line();
    let first = key_file_with(dir.path(), "one.key", &[&line_a, &line_b]);
    let second = key_file_with(dir.path(), "two.key", &[&line_c, &line_a]);
    let vault = Vault::open_files(&[first.clone(), second.clone()]).unwrap();
    // `a` is in both files (the same key): it counts once, at its latest place.
    assert_eq!(vault.key_ids(), vec![b.clone(), c.clone(), a.clone()]);
    assert_eq!(vault.active_key_id(), a);
    let ids = [Uuid::new_v4()];
    for kid in [&a, &b, &c] {
        let ct = vault.encrypt_with(kid, b"v", &aad(&ids)).unwrap();
        assert_eq!(key_id_of(&ct).unwrap(), kid.as_str());
        assert_eq!(vault.decrypt(&ct, &aad(&ids)).unwrap().as_slice(), b"v");
    }
    assert!(matches!(
        vault.encrypt_with("nope", b"v", &aad(&ids)),
        Err(VaultError::UnknownKey(_))
    ));

    // The same id with another key in a later file is refused, naming the file.
    let (_, other) = key_file::new_key_line();
    let clash = format!("{b} {}", other.split_once(' ').unwrap().1);
    let third = key_file_with(dir.path(), "three.key", &[&clash]);
    let err = Vault::open_files(&[first, third.clone()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("three.key") && err.contains(&b), "{err}");
    assert!(!err.contains(other.split_once(' ').unwrap().1), "{err}");
}

#[test]
fn a_changed_key_file_is_reloaded_and_a_bad_one_keeps_the_old_keys() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let vault = Vault::open_or_create(&path).unwrap();
    let first = vault.active_key_id();
    let ids = [Uuid::new_v4()];
    let sealed_first = vault.encrypt(b"one", &aad(&ids));
    assert_eq!(vault.reload_if_changed().unwrap(), None, "nothing changed");

    // A new key appended: the next check loads it and seals with it.
    let (second, line) = key_file::new_key_line();
    key_file::append_key(&path, &line).unwrap();
    let change = vault.reload_if_changed().unwrap().expect("a change");
    assert_eq!(change.added, vec![second.clone()]);
    assert!(change.removed.is_empty());
    assert_eq!(change.active, second);
    assert_eq!(vault.active_key_id(), second);
    assert_eq!(
        key_id_of(&vault.encrypt(b"two", &aad(&ids))).unwrap(),
        second
    );
    assert!(vault.decrypt(&sealed_first, &aad(&ids)).is_ok());

    // A file that no longer parses: the error is returned once, the keys stay.
    std::fs::write(&path, "garbage without a key\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = vault.reload_if_changed().unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
    assert_eq!(vault.reload_if_changed().unwrap(), None, "reported once");
    assert_eq!(vault.key_ids(), vec![first.clone(), second.clone()]);
    assert!(vault.decrypt(&sealed_first, &aad(&ids)).is_ok());

    // Loose permissions are as bad as bad content.
    std::fs::write(&path, format!("{}\n", line.as_str())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = vault.reload_if_changed().unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
    assert_eq!(vault.key_ids(), vec![first.clone(), second.clone()]);

    // Fixed, and the first key retired: it is dropped.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let change = vault.reload_if_changed().unwrap().expect("a change");
    assert_eq!(change.removed, vec![first]);
    assert!(matches!(
        vault.decrypt(&sealed_first, &aad(&ids)),
        Err(VaultError::UnknownKey(_))
    ));
}

#[test]
fn key_lines_are_appended_and_removed_keeping_the_rest_of_the_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let vault = Vault::open_or_create(&path).unwrap();
    let first = vault.active_key_id();
    let (second, line) = key_file::new_key_line();
    assert_eq!(key_file::append_key(&path, &line).unwrap(), second);
    let err = key_file::append_key(&path, &line).unwrap_err().to_string();
    assert!(err.contains("already"), "{err}");
    assert!(key_file::append_key(&path, "k1 AAAA").is_err());
    assert!(key_file::append_key(&path, "").is_err());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    assert!(!key_file::remove_key(&path, "unknown").unwrap());
    assert!(key_file::remove_key(&path, &first).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Gumstack master keys"), "{text}");
    assert!(!text.contains(&first) && text.contains(&second), "{text}");
    let err = key_file::remove_key(&path, &second)
        .unwrap_err()
        .to_string();
    assert!(err.contains("only key"), "{err}");
    assert_eq!(Vault::open(&path).unwrap().key_ids(), vec![second]);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
