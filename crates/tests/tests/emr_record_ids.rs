//! Issue 17 point 6 through a department node: the EMR store never replaces a record, so a
//! visit whose default record id an import already holds gets another id, and the imported
//! record is kept.

mod common;

use common::enrol::enrol_like_cli;

use common::cluster::{Cluster, block_on, standard, test_params};
use medblock_actors::client::Visit;
use medblock_actors::client::import::ImportVisit;
use medblock_core::keys::Identity;
use std::time::Duration;

#[test]
fn a_visit_whose_default_record_id_an_import_holds_gets_another_and_both_are_kept() {
    let mut c = Cluster::create(standard(), test_params());
    for i in 0..c.specs.len() {
        c.start(i);
    }
    c.wait_ready(Duration::from_secs(40));
    let alice = Identity::generate(&mut rand::rng());
    enrol_like_cli(&c, "h1-cardiology", &alice, "alice");
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let t = Duration::from_secs(60);

    // An import takes sequence 1 under the record id a plain visit with sequence 2 would get.
    let imported = ImportVisit {
        patient: "alice".into(),
        department: "cardiology".into(),
        diagnosis: "imported".into(),
        examination_results: String::new(),
        treatment_plan: String::new(),
        record_id: "cardiology/2".into(),
        emr: "{\"emr\": \"imported record\"}".into(),
    };
    let n = node.clone();
    let first = imported.clone();
    let out = block_on(async move { n.import(vec![first], false, t).await }).expect("imported");
    assert_eq!(out.len(), 1);
    assert_eq!(out.first().map(|o| o.outcome.sequence), Some(1));

    let visit = Visit {
        patient: "alice".into(),
        diagnosis: "plain".into(),
        examination_results: String::new(),
        treatment_plan: String::new(),
        emr: Some("{\"emr\": \"another record\"}".into()),
        upload_within_ms: 0,
    };
    // The visit gets sequence 2 but not the imported record's id: the store never replaces
    // a record, so the default id takes a suffix and both records are kept.
    let n = node.clone();
    let out = block_on(async move { n.submit(vec![visit], false, t).await }).expect("recorded");
    let o = out.first().expect("one outcome");
    assert_eq!(o.sequence, 2);
    assert_eq!(
        o.emr_sha256,
        hex::encode(medblock_core::sha256(b"{\"emr\": \"another record\"}").0)
    );

    // The imported record is still the one held: importing it again is a no-op.
    let n = node.clone();
    let again = block_on(async move { n.import(vec![imported], false, t).await }).expect("again");
    assert_eq!(
        again.first().map(|o| o.outcome.status.as_str()),
        Some("already imported")
    );
}
