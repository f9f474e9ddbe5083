//! Only the addressed agencies can unwrap the content key.

use custos_dossier::{DossierError, encrypt};
use custos_primitives::crypto::{AnySuite, Suite, SuiteId};
use custos_primitives::types::AgencyId;

use crate::support::{Fixture, suites};

#[test]
fn only_addressed_agencies_can_unwrap_the_key() {
    for id in suites() {
        let fx = Fixture::new(id);
        let enc = fx.encrypt_bytes(b"a judgment", 4096);
        let m = &enc.manifest;
        // Recipients are sorted by agency whatever order they were given in.
        let ids: Vec<&str> = m.recipients.iter().map(|r| r.agency.as_str()).collect();
        assert_eq!(ids, ["court-230102", "justice-230102"]);
        for a in [&fx.court, &fx.justice] {
            let k = m.unwrap_content_key(&fx.suite, &a.id, &a.key).unwrap();
            assert_eq!(k.as_bytes(), enc.content_key.as_bytes());
        }
        // Not addressed at all.
        let err = m.unwrap_content_key(&fx.suite, &fx.police.id, &fx.police.key).unwrap_err();
        assert!(matches!(err, DossierError::NotARecipient { ref agency, .. } if *agency == fx.police.id), "{err}");
        // A non-recipient's key presented under a recipient's name.
        let err = m.unwrap_content_key(&fx.suite, &fx.court.id, &fx.police.key).unwrap_err();
        assert!(matches!(err, DossierError::Unwrap { ref agency, .. } if *agency == fx.court.id), "{err}");
        // One recipient's key does not open another's entry.
        assert!(m.unwrap_content_key(&fx.suite, &fx.court.id, &fx.justice.key).is_err());
    }
}

#[test]
fn recipient_list_is_checked_before_encrypting() {
    let fx = Fixture::new(SuiteId::Sm);
    let mut p = fx.params(4096);
    p.recipients.push((fx.court.id.clone(), fx.court.key.public_key()));
    let err = encrypt(&fx.store, &p, &b"x"[..], 1, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, DossierError::Recipients { .. }), "{err}");

    p.recipients.clear();
    let err = encrypt(&fx.store, &p, &b"x"[..], 1, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, DossierError::Recipients { .. }), "{err}");

    // A key of the other suite cannot be wrapped to.
    let intl = AnySuite::with_defaults(SuiteId::Intl);
    let foreign = intl.generate_decryption_key().unwrap();
    p.recipients = vec![(AgencyId::new("prison-1").unwrap(), foreign.public_key())];
    let err = encrypt(&fx.store, &p, &b"x"[..], 1, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, DossierError::Wrap { .. }), "{err}");

    // Nothing was written by the failed attempts.
    let chunks = fx.store.root().join("chunks");
    assert_eq!(std::fs::read_dir(chunks).unwrap().count(), 0);
}

#[test]
fn wrong_suite_decryption_key_is_refused() {
    let fx = Fixture::new(SuiteId::Sm);
    let enc = fx.encrypt_bytes(b"doc", 4096);
    let intl = AnySuite::with_defaults(SuiteId::Intl);
    let foreign = intl.generate_decryption_key().unwrap();
    assert!(enc.manifest.unwrap_content_key(&fx.suite, &fx.court.id, &foreign).is_err());
    assert!(matches!(
        enc.manifest.unwrap_content_key(&intl, &fx.court.id, &fx.court.key),
        Err(DossierError::WrongSuite { .. })
    ));
}
