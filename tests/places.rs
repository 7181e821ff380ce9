//! Jurisdiction on every transcript the team wrote (training files and holdout): the gazetteer
//! alone, with no model, so a change to the places file or the matching rules shows at once.

use hotline_triage::text::normalize_transcript;
use hotline_triage::text::places::Gazetteer;

mod common;

#[test]
fn the_team_transcripts_get_their_district_and_street() {
    let root = common::repo_root();
    let gazetteer = Gazetteer::load(&root.join("models/places/beijing.csv")).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(root.join("models/examples")).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "jsonl"));
    let (mut named, mut district_ok, mut with_street, mut street_ok) = (0usize, 0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    files.sort();
    for f in &files {
        let before = (named, district_ok);
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let Some(district) = row["district"].as_str() else { continue };
            let found = gazetteer.locate(&normalize_transcript(row["text"].as_str().unwrap()).text);
            named += 1;
            district_ok += usize::from(found.district.as_deref() == Some(district));
            if let Some(street) = row["street"].as_str() {
                with_street += 1;
                street_ok += usize::from(found.street.as_deref() == Some(street));
            }
            if found.district.as_deref() != Some(district) || found.street.as_deref() != row["street"].as_str() {
                misses.push(format!("{}: gold {district} {:?}, found {:?} {:?}", row["id"], row["street"].as_str(), found.district, found.street));
            }
        }
        let (n, ok) = (named - before.0, district_ok - before.1);
        eprintln!("{}: {ok} of {n} districts", f.file_name().unwrap().to_string_lossy());
    }
    let (district_acc, street_acc) = (district_ok as f64 / named as f64, street_ok as f64 / with_street as f64);
    eprintln!("{named} transcripts name a district: {district_acc:.3} right; {with_street} name a street: {street_acc:.3} right\n{}", misses.join("\n"));
    assert!(named > 1000, "{named}");
    // The bar for the judge's calls is 0.95; these are our own, so hold them higher.
    assert!(district_acc >= 0.98, "district {district_acc:.3}");
    assert!(street_acc >= 0.95, "street {street_acc:.3}");
}
