//! The chain's cryptography: each record's canonical encoding, its keyed hash, the head's MAC,
//! and the walk `gumstackd audit verify` makes.
//!
//! `hash = HMAC-SHA256(key, "gumstack-audit/v1" | prev_hash | seq | at | actor_id | actor_label
//! | action | target_kind | target_id | target_label | details | source)`, each field written
//! as a presence byte and, when present, its length (8 bytes, big-endian) and its UTF-8 bytes,
//! so no two different records encode alike. The head's MAC is
//! `HMAC-SHA256(key, "gumstack-audit-head/v1" | count | last_hash)`. Hashes are stored as hex.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::store::{AuditDraft, AuditHead, AuditRecord};

/// The hash before the first record.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain's HMAC key (32 bytes), unsealed from the vault. Never printed.
pub(crate) struct ChainKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

fn field(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            out.extend_from_slice(&(text.len() as u64).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

impl ChainKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::new(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    fn mac(&self, message: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.as_slice()).expect("HMAC takes any key length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The hash of the record placed at `seq` after `prev_hash`.
    pub(crate) fn record_hash(&self, seq: i64, prev_hash: &str, draft: &AuditDraft) -> String {
        let mut out = b"gumstack-audit/v1".to_vec();
        for value in [
            Some(prev_hash),
            Some(&seq.to_string()),
            Some(&draft.at.to_string()),
            draft.actor_id.as_deref(),
            Some(&draft.actor_label),
            Some(&draft.action),
            Some(&draft.target_kind),
            draft.target_id.as_deref(),
            Some(&draft.target_label),
            Some(&draft.details),
            draft.source.as_deref(),
        ] {
            field(&mut out, value);
        }
        self.mac(&out)
    }

    /// The head's MAC over its count and last hash.
    pub(crate) fn head_mac(&self, count: i64, last_hash: &str) -> String {
        let mut out = b"gumstack-audit-head/v1".to_vec();
        field(&mut out, Some(&count.to_string()));
        field(&mut out, Some(last_hash));
        self.mac(&out)
    }
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The first thing wrong with the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The record that is broken or missing (`None`: the head itself).
    pub seq: Option<i64>,
    pub reason: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record {seq} is broken: {}", self.reason),
            None => write!(f, "the head is broken: {}", self.reason),
        }
    }
}

/// The verifier's state as it walks the records oldest first.
#[derive(Debug)]
pub(crate) struct Walk<'k> {
    key: &'k ChainKey,
    position: i64,
    prev_hash: String,
    /// The first record whose hash does not match its contents: reported first, because a
    /// changed record also breaks the link after it (and a changed `seq` moves it).
    altered: Option<Break>,
    /// The first record that is out of place or does not link to the one before.
    unlinked: Option<Break>,
}

impl<'k> Walk<'k> {
    pub(crate) fn new(key: &'k ChainKey) -> Self {
        Self {
            key,
            position: 0,
            prev_hash: GENESIS.to_owned(),
            altered: None,
            unlinked: None,
        }
    }

    pub(crate) fn records(&self) -> i64 {
        self.position
    }

    /// Checks the next record (records arrive in `seq` order).
    pub(crate) fn step(&mut self, record: &AuditRecord) {
        self.position += 1;
        let expected = self
            .key
            .record_hash(record.seq, &record.prev_hash, &record.draft);
        if self.altered.is_none() && !same(&expected, &record.hash) {
            self.altered = Some(Break {
                seq: Some(record.seq),
                reason: "its hash does not match its contents (a column was changed)".into(),
            });
        }
        if self.unlinked.is_none() {
            if record.seq != self.position {
                self.unlinked = Some(Break {
                    seq: Some(record.seq),
                    reason: format!(
                        "record {} was expected here: records are missing or renumbered",
                        self.position
                    ),
                });
            } else if !same(&record.prev_hash, &self.prev_hash) {
                self.unlinked = Some(Break {
                    seq: Some(record.seq),
                    reason: "it does not link to the record before it (prev_hash differs)".into(),
                });
            }
        }
        self.prev_hash.clone_from(&record.hash);
    }

    /// The verdict once every record was seen, checking the head last: its MAC, its count
    /// (records cut off the end) and the last hash it names.
    pub(crate) fn finish(self, head: &AuditHead) -> Option<Break> {
        if let Some(problem) = self.altered.or(self.unlinked) {
            return Some(problem);
        }
        let mac_ok = head
            .head_mac
            .as_deref()
            .is_some_and(|mac| same(mac, &self.key.head_mac(head.count, &head.last_hash)));
        if !mac_ok {
            return Some(Break {
                seq: None,
                reason: "its MAC does not match its count and last hash (the head was changed)"
                    .into(),
            });
        }
        if head.count > self.position {
            return Some(Break {
                seq: Some(self.position + 1),
                reason: format!(
                    "it is missing: the head counts {} records, {} are stored (records were removed from the end)",
                    head.count, self.position
                ),
            });
        }
        if head.count < self.position {
            return Some(Break {
                seq: Some(head.count + 1),
                reason: format!(
                    "it is not counted: the head counts {} records, {} are stored",
                    head.count, self.position
                ),
            });
        }
        if !same(&head.last_hash, &self.prev_hash) {
            return Some(Break {
                seq: Some(self.position),
                reason: "it is not the last record the head names".into(),
            });
        }
        None
    }
}
