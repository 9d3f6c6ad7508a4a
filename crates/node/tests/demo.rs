//! The README's first command, as a test: the demo network commits every upload, its committers
//! agree, and the patient reads exactly his own records with every EMR hash verified.

use medblock_node::demo::{DemoArgs, run};

#[test]
fn the_demo_network_commits_everything_and_the_patient_reads_exactly_his_records() {
    let dir = tempfile::tempdir().unwrap();
    let args = DemoArgs {
        dir: dir.path().join("net"),
        patients: 4,
        events: 60,
        block_events: 16,
        orderers: 5,
        seed: Some(11),
        json: false,
    };
    let report = run(&args).expect("demo runs");
    assert_eq!(report.events_admitted, 60);
    assert_eq!(report.blocks, 4); // 16 + 16 + 16 + 12
    assert_eq!(report.committee.len(), 4);
    assert!(report.agree);
    assert_eq!(report.committer_ledger_hashes.len(), 2);
    assert!(
        !report.records.is_empty(),
        "with 4 patients and 60 visits patient 1 has records"
    );
    assert!(report.records.iter().all(|r| r.emr_verified));
    // Newest first within each department.
    for w in report.records.windows(2) {
        if (w[0].hospital.as_str(), w[0].department.as_str())
            == (w[1].hospital.as_str(), w[1].department.as_str())
        {
            assert!(w[0].height >= w[1].height);
        }
    }
    // Patients' key files are owner-only.
    use std::os::unix::fs::PermissionsExt;
    let key = args.dir.join("patients/patient-001.key");
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Run again on the same dir: wiped and recreated, same outcome.
    assert!(run(&args).expect("demo reruns").agree);
}
