//! Signing, verifying, and rotating the signing keys.

use super::*;
use crate::store::sqlite::SqliteStore;

#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
}

fn claims(aud: &str, exp_in: i64) -> Claims {
    Claims {
        iss: "https://p".into(),
        sub: "u".into(),
        aud: aud.into(),
        iat: now(),
        exp: now() + exp_in,
    }
}

#[tokio::test]
async fn keys_persist_sign_and_verify() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let vault = Vault::generate();
    let keys = SigningKeys::load_or_create(&store, &vault).await.unwrap();
    let again = SigningKeys::load_or_create(&store, &vault).await.unwrap();
    assert_eq!(
        keys.active_kid(),
        again.active_kid(),
        "the stored key is reused"
    );
    assert_eq!(keys.jwks()["keys"][0]["kty"], "OKP");

    let token = keys.sign("at+jwt", &claims("https://p/mcp/a", 60));
    let ok: Claims = again
        .verify(&token, "at+jwt", "https://p", "https://p/mcp/a", now())
        .unwrap();
    assert_eq!(ok.sub, "u");
    assert_eq!(
        keys.verify::<Claims>(&token, "at+jwt", "https://p", "https://p/mcp/b", now()),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(
        keys.verify::<Claims>(&token, "other", "https://p", "https://p/mcp/a", now()),
        Err(TokenError::WrongType)
    );
    assert_eq!(
        keys.verify::<Claims>(&token, "at+jwt", "https://q", "https://p/mcp/a", now()),
        Err(TokenError::WrongIssuer)
    );
    let expired = keys.sign("at+jwt", &claims("https://p/mcp/a", -120));
    assert_eq!(
        keys.verify::<Claims>(&expired, "at+jwt", "https://p", "https://p/mcp/a", now()),
        Err(TokenError::Expired)
    );
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert!(
        keys.verify::<Claims>(&tampered, "at+jwt", "https://p", "https://p/mcp/a", now())
            .is_err()
    );

    // Another platform's keys do not verify ours.
    let other_store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let other = SigningKeys::load_or_create(&other_store, &vault)
        .await
        .unwrap();
    assert_eq!(
        other.verify::<Claims>(&token, "at+jwt", "https://p", "https://p/mcp/a", now()),
        Err(TokenError::UnknownKey)
    );
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn published(keys: &SigningKeys) -> Vec<String> {
    keys.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rotated_key_signs_new_tokens_and_the_old_one_verifies_until_its_tokens_expired() {
    use crate::clock::{Clock as _, ManualClock};
    let clock = ManualClock::starting_now();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let vault = Vault::generate();
    let keys = SigningKeys::load_or_create_at(&store, &vault, clock.now())
        .await
        .unwrap();
    let old_kid = keys.active_kid();
    let issued = clock.now();
    let at = |iat: i64| Claims {
        iss: "https://p".into(),
        sub: "u".into(),
        aud: "https://p/mcp/a".into(),
        iat,
        exp: iat + ACCESS_TOKEN_SECONDS,
    };
    let verify = |keys: &SigningKeys, token: &str, now: i64| {
        keys.verify::<Claims>(token, "at+jwt", "https://p", "https://p/mcp/a", now)
    };
    let old_token = keys.sign("at+jwt", &at(issued));

    // The rotation publishes the new key at once; it signs only from its activation.
    let new_kid = SigningKeys::add_key(&store, &vault, clock.now(), clock.now() + 300)
        .await
        .unwrap();
    clock.advance(2);
    assert!(keys.reload(&store, &vault, clock.now()).await.unwrap());
    assert_eq!(
        keys.active_kid(),
        old_kid,
        "not signing before its activation"
    );
    assert_eq!(published(&keys), vec![old_kid.clone(), new_kid.clone()]);
    assert!(
        !keys.reload(&store, &vault, clock.now()).await.unwrap(),
        "nothing new"
    );

    clock.advance(298);
    assert!(keys.reload(&store, &vault, clock.now()).await.unwrap());
    assert_eq!(keys.active_kid(), new_kid);
    let new_token = keys.sign("at+jwt", &at(clock.now()));
    assert_eq!(kid_of(&new_token), new_kid);
    assert_eq!(kid_of(&old_token), old_kid);
    // Both verify, here and on an instance that starts now.
    let started_now = SigningKeys::load_or_create_at(&store, &vault, clock.now())
        .await
        .unwrap();
    assert_eq!(started_now.active_kid(), new_kid);
    for instance in [&keys, &started_now] {
        assert!(verify(instance, &old_token, clock.now()).is_ok());
        assert!(verify(instance, &new_token, clock.now()).is_ok());
    }

    // The old key's last token is valid to its expiry (and the leeway)…
    clock.advance(ACCESS_TOKEN_SECONDS - 300 + 59);
    keys.reload(&store, &vault, clock.now()).await.unwrap();
    assert!(verify(&keys, &old_token, clock.now()).is_ok());
    assert!(published(&keys).contains(&old_kid));

    // …and once every token it signed has expired, the key is removed everywhere.
    let activated = issued + 300;
    let clock_now = clock.now();
    clock.advance(activated + OVERLAP_SECONDS - clock_now);
    assert!(keys.reload(&store, &vault, clock.now()).await.unwrap());
    assert_eq!(published(&keys), vec![new_kid.clone()]);
    assert_eq!(
        verify(&keys, &old_token, clock.now()),
        Err(TokenError::UnknownKey)
    );
    let stored: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(stored, vec![new_kid.clone()]);
    assert!(
        started_now
            .reload(&store, &vault, clock.now())
            .await
            .unwrap()
    );
    assert_eq!(published(&started_now), vec![new_kid]);
    assert!(verify(&keys, &new_token, clock.now() - OVERLAP_SECONDS + 3600).is_ok());
}

/// Found by the `jws_verify` fuzz target: an `exp` near `i64::MAX` overflowed the leeway
/// addition (a panic with overflow checks, an "expired" verdict without).
#[tokio::test]
async fn an_expiry_at_the_end_of_time_does_not_overflow() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let keys = SigningKeys::load_or_create(&store, &Vault::generate())
        .await
        .unwrap();
    let mut far = claims("https://p/mcp/a", 0);
    far.exp = i64::MAX;
    let token = keys.sign("at+jwt", &far);
    let verified: Claims = keys
        .verify(&token, "at+jwt", "https://p", "https://p/mcp/a", now())
        .unwrap();
    assert_eq!(verified.exp, i64::MAX);
}
