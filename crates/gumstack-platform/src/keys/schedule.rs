//! Which signing key signs, which are published, and which are done, at a given time.
//!
//! A key is published (JWKS, and accepted when verifying) from the moment it is stored. It
//! signs from its `activates_at` until a newer key activates; from then it only verifies, for
//! [`OVERLAP`]: longer than any token it signed lives (plus the clock leeway and the time every
//! instance needs to notice the newer key). After that it is removed.

use crate::store::{SigningKeyRecord, Timestamp};

/// Access tokens live an hour (SPEC §7); the longest-lived token the signing keys sign.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// The longest lifetime of a token the platform signs: access tokens, identities, platform
/// calls.
const LONGEST_TOKEN_SECONDS: i64 = {
    let identity = gumstack_protocol::claims::IDENTITY_SECONDS;
    let call = gumstack_protocol::claims::PLATFORM_CALL_SECONDS;
    let mut longest = ACCESS_TOKEN_SECONDS;
    if identity > longest {
        longest = identity;
    }
    if call > longest {
        longest = call;
    }
    longest
};

/// How long an instance may go on signing with a key after a newer one activated: it notices
/// at its next reload, every few seconds.
const RELOAD_SLACK_SECONDS: i64 = 60;

/// How long a key keeps verifying after a newer key activated: every token it signed has
/// expired by then, clock leeway included.
pub const OVERLAP_SECONDS: i64 =
    LONGEST_TOKEN_SECONDS + gumstack_protocol::jws::LEEWAY.as_secs() as i64 + RELOAD_SLACK_SECONDS;

// A key outlives the last token it signed, leeway included.
const _: () = assert!(
    OVERLAP_SECONDS > LONGEST_TOKEN_SECONDS + gumstack_protocol::jws::LEEWAY.as_secs() as i64
);

/// The signing keys' roles at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Schedule {
    /// The key that signs (index into the records).
    pub(super) signer: usize,
    /// The keys that verify and are published, in the records' order.
    pub(super) published: Vec<usize>,
    /// The keys whose overlap is over: no token they signed is valid any more.
    pub(super) done: Vec<usize>,
}

/// When a key starts signing.
pub(super) fn activation(record: &SigningKeyRecord) -> Timestamp {
    record.activates_at.unwrap_or(record.created_at)
}

/// The roles of `records` at `now`; `None` when there is no key.
pub(super) fn at(records: &[SigningKeyRecord], now: Timestamp) -> Option<Schedule> {
    let mut by_activation: Vec<usize> = (0..records.len()).collect();
    by_activation.sort_by(|&a, &b| {
        (activation(&records[a]), &records[a].kid).cmp(&(activation(&records[b]), &records[b].kid))
    });
    let activated: Vec<usize> = by_activation
        .iter()
        .copied()
        .filter(|&i| activation(&records[i]) <= now)
        .collect();
    // The newest activated key signs; if none has activated yet (a clock set back), the
    // earliest one does.
    let signer = activated
        .last()
        .copied()
        .or_else(|| by_activation.first().copied())?;
    let mut done = Vec::new();
    for pair in activated.windows(2) {
        let (older, newer) = (pair[0], pair[1]);
        if now >= activation(&records[newer]).saturating_add(OVERLAP_SECONDS) {
            done.push(older);
        }
    }
    // In the order they sign(ed): the JWKS lists the newest last.
    let published = by_activation
        .iter()
        .copied()
        .filter(|i| !done.contains(i) || *i == signer)
        .collect();
    done.retain(|&i| i != signer);
    Some(Schedule {
        signer,
        published,
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        kid: &str,
        created_at: Timestamp,
        activates_at: Option<Timestamp>,
    ) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            private_ciphertext: Vec::new(),
            public_x: String::new(),
            created_at,
            activates_at,
        }
    }

    #[test]
    fn the_newest_activated_key_signs_and_the_old_one_verifies_for_the_overlap() {
        let keys = [record("a", 0, None), record("b", 1000, Some(1300))];
        // Before b activates: a signs, both are published (b so every verifier knows it).
        let s = at(&keys, 1200).unwrap();
        assert_eq!(
            (s.signer, s.published.clone(), s.done.clone()),
            (0, vec![0, 1], vec![])
        );
        // b signs; a still verifies what it signed.
        let s = at(&keys, 1300).unwrap();
        assert_eq!((s.signer, s.published.clone()), (1, vec![0, 1]));
        let s = at(&keys, 1300 + OVERLAP_SECONDS - 1).unwrap();
        assert!(s.done.is_empty());
        // Every token a signed has expired: a is done and no longer published.
        let s = at(&keys, 1300 + OVERLAP_SECONDS).unwrap();
        assert_eq!((s.signer, s.published, s.done), (1, vec![1], vec![0]));
    }

    #[test]
    fn odd_schedules_still_have_a_signer() {
        assert_eq!(at(&[], 0), None);
        // Only a key that activates later (a clock set back): it signs anyway.
        let s = at(&[record("a", 500, Some(900))], 100).unwrap();
        assert_eq!(s.signer, 0);
        // Three generations: the first is done once the third has been active long enough…
        let keys = [
            record("a", 0, None),
            record("b", 10, None),
            record("c", 20, Some(5000)),
        ];
        let s = at(&keys, 10 + OVERLAP_SECONDS).unwrap();
        assert_eq!((s.signer, s.done.clone()), (1, vec![0]));
        assert_eq!(s.published, vec![1, 2]);
        let s = at(&keys, 5000 + OVERLAP_SECONDS).unwrap();
        assert_eq!((s.signer, s.published, s.done), (2, vec![2], vec![0, 1]));
    }
}
