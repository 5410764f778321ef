//! Table-driven tests of the routing core on the shipped Essex configuration.

use super::*;
use crate::domain::{Agency, Grade, Location, Referral, Triage};

fn triage(agency: Agency, grade: Grade, code: &str) -> Triage {
    Triage {
        agency,
        lead_agency: if agency == Agency::Joint {
            Agency::Fire
        } else {
            agency
        },
        grade,
        incident_type: code.into(),
        incident_type_name: "".into(),
        qualifiers: vec![],
        referral: None,
        confidence: 0.9,
        reasons: vec![],
        needs_confirmation: false,
        next_question: None,
    }
}

fn at(postcode: &str) -> Location {
    Location {
        postcode: postcode.into(),
        ..Default::default()
    }
}

fn desks(t: &Table, d: &Decision) -> Vec<String> {
    d.desks.iter().map(|id| t.desk(*id).id.clone()).collect()
}

/// Every area, with one of its postcodes, its police desk.
const AREAS: &[(&str, &str, &str)] = &[
    ("basildon", "SS14 1AA", "police-south"),
    ("braintree", "CM7 1AA", "police-north"),
    ("brentwood", "CM14 4AA", "police-west"),
    ("castle_point", "SS8 7AA", "police-south"),
    ("chelmsford", "CM1 1AA", "police-west"),
    ("colchester", "CO1 1AA", "police-north"),
    ("epping_forest", "IG10 4AA", "police-west"),
    ("harlow", "CM20 1AA", "police-west"),
    ("maldon", "CM9 5AA", "police-west"),
    ("rochford", "SS4 1AA", "police-south"),
    ("tendring", "CO15 1AA", "police-north"),
    ("uttlesford", "CB11 3AA", "police-north"),
    ("southend", "SS1 1AA", "police-south"),
    ("thurrock", "RM17 6AA", "police-south"),
];

#[test]
fn every_agency_in_every_area_goes_to_the_right_desks() {
    let t = Table::default_desks();
    let load = Load::default();
    for (area, postcode, police) in AREAS {
        for (agency, expected) in [
            (Agency::Police, vec![*police]),
            (Agency::Fire, vec!["fire-control"]),
            (Agency::Joint, vec![*police, "fire-control", "joint"]),
        ] {
            let d = t.route(&triage(agency, Grade::Emergency, "X"), &at(postcode), &load);
            assert_eq!(t.areas()[d.area.0 as usize].id, *area, "{postcode}");
            assert_eq!(desks(&t, &d), expected, "{agency} in {area}");
        }
    }
}

#[test]
fn postcodes_are_read_however_they_are_written() {
    let t = Table::default_desks();
    for (pc, area, source) in [
        ("CM1 1AA", "chelmsford", AreaSource::Postcode),
        ("cm11aa", "chelmsford", AreaSource::Postcode),
        (" cm1  1aa ", "chelmsford", AreaSource::Postcode),
        ("CM1", "chelmsford", AreaSource::Postcode),
        ("CM11 2AB", "basildon", AreaSource::Postcode),
        ("SS0 7AA", "southend", AreaSource::Postcode),
        // With the sector alone: the district, not the letters before it.
        ("CM1 1", "chelmsford", AreaSource::Postcode),
        ("RM17 5", "thurrock", AreaSource::Postcode),
        ("ZZ9 9ZZ", "chelmsford", AreaSource::Fallback),
        ("", "chelmsford", AreaSource::Fallback),
        ("not a postcode at all", "chelmsford", AreaSource::Fallback),
    ] {
        let (a, s) = t.area_of(&at(pc));
        assert_eq!(
            (t.areas()[a.0 as usize].id.as_str(), s),
            (area, source),
            "{pc:?}"
        );
    }
}

#[test]
fn coordinates_are_used_only_when_accurate_and_inside_the_county() {
    let t = Table::default_desks();
    let loc = |lat, lon, acc| Location {
        lat: Some(lat),
        lon: Some(lon),
        accuracy_m: acc,
        ..Default::default()
    };
    for (l, area, source) in [
        (
            loc(51.889, 0.903, Some(20)),
            "colchester",
            AreaSource::Coordinates,
        ),
        (loc(51.79, 1.15, None), "tendring", AreaSource::Coordinates),
        (
            loc(51.49, 0.33, Some(50)),
            "thurrock",
            AreaSource::Coordinates,
        ),
        (
            loc(51.889, 0.903, Some(20_000)),
            "chelmsford",
            AreaSource::Fallback,
        ),
        (
            loc(51.507, -0.128, Some(10)),
            "chelmsford",
            AreaSource::Fallback,
        ),
    ] {
        let (a, s) = t.area_of(&l);
        assert_eq!(
            (t.areas()[a.0 as usize].id.as_str(), s),
            (area, source),
            "{l:?}"
        );
    }
    // The caller's postcode wins over the handset's position.
    let mut both = loc(51.889, 0.903, Some(10));
    both.postcode = "SS1 1AA".into();
    assert_eq!(t.areas()[t.area_of(&both).0.0 as usize].id, "southend");
}

#[test]
fn grade_four_and_referrals_go_to_the_resolution_desk() {
    let t = Table::default_desks();
    let load = Load::default();
    let d = t.route(
        &triage(Agency::Police, Grade::Resolution, "P23"),
        &at("CO1 1AA"),
        &load,
    );
    assert_eq!(desks(&t, &d), vec!["resolution"]);
    let mut referral = triage(Agency::None, Grade::Resolution, "X01");
    referral.referral = Some(Referral::Ambulance);
    assert_eq!(
        desks(&t, &t.route(&referral, &at("CO1 1AA"), &load)),
        vec!["resolution"]
    );
}

#[test]
fn types_that_need_a_skill_go_to_the_desk_with_it() {
    let t = Table::default_desks();
    let load = Load::default();
    for (agency, code, expected) in [
        (Agency::Police, "P10", vec!["firearms"]),
        (
            Agency::Joint,
            "J04",
            vec!["police-west", "water-rescue", "joint"],
        ),
        (Agency::Joint, "J08", vec!["police-west", "hazmat", "joint"]),
        (
            Agency::Joint,
            "J14",
            vec!["police-west", "water-rescue", "joint"],
        ),
    ] {
        let d = t.route(
            &triage(agency, Grade::Emergency, code),
            &at("CM1 1AA"),
            &load,
        );
        assert_eq!(desks(&t, &d), expected, "{code}");
        assert!(
            d.notes.iter().any(|n| matches!(n, Note::Skill(_))),
            "{code}"
        );
    }
}

fn load_with(t: &Table, f: impl Fn(&str, &mut Load, usize)) -> Load {
    let n = t.desks().len();
    let mut load = Load {
        closed: vec![false; n],
        depth: vec![0; n],
        oldest_wait_ms: vec![0; n],
    };
    for (i, d) in t.desks().iter().enumerate() {
        f(&d.id, &mut load, i);
    }
    load
}

#[test]
fn unavailable_desks_overflow_along_their_chain_and_say_why() {
    let t = Table::default_desks();
    let police = triage(Agency::Police, Grade::Priority, "P02");
    let cases: Vec<(Load, Vec<&str>, Unavailable)> = vec![
        (
            load_with(&t, |id, l, i| l.closed[i] = id == "police-west"),
            vec!["police-overflow"],
            Unavailable::Closed,
        ),
        (
            load_with(&t, |id, l, i| {
                if id == "police-west" {
                    l.depth[i] = 60
                }
            }),
            vec!["police-overflow"],
            Unavailable::AtCapacity,
        ),
        (
            load_with(&t, |id, l, i| {
                if id == "police-west" {
                    l.oldest_wait_ms[i] = 900_000
                }
            }),
            vec!["police-overflow"],
            Unavailable::QueueTooOld,
        ),
        (
            load_with(&t, |id, l, i| {
                l.closed[i] = id == "police-west" || id == "police-overflow"
            }),
            vec!["supervisor"],
            Unavailable::Closed,
        ),
    ];
    for (load, expected, why) in cases {
        let d = t.route(&police, &at("CM1 1AA"), &load);
        assert_eq!(desks(&t, &d), expected);
        assert!(
            d.notes
                .iter()
                .any(|n| matches!(n, Note::Overflow { why: w, .. } if *w == why)),
            "{:?}",
            d.notes
        );
        assert!(
            t.explain(&d)
                .reasons
                .iter()
                .any(|r| r.contains("overflow to"))
        );
    }
    // Just under the thresholds, nothing overflows.
    let load = load_with(&t, |id, l, i| {
        if id == "police-west" {
            l.depth[i] = 59;
            l.oldest_wait_ms[i] = 899_999;
        }
    });
    assert_eq!(
        desks(&t, &t.route(&police, &at("CM1 1AA"), &load)),
        vec!["police-west"]
    );
}

#[test]
fn a_desk_is_never_listed_twice_when_chains_meet() {
    let t = Table::default_desks();
    let all_closed = load_with(&t, |_, l, i| l.closed[i] = true);
    let d = t.route(
        &triage(Agency::Joint, Grade::Emergency, "J02"),
        &at("CM1 1AA"),
        &all_closed,
    );
    assert_eq!(desks(&t, &d), vec!["supervisor"]);
}

#[test]
fn routing_is_deterministic() {
    let t = Table::default_desks();
    let load = Load::default();
    let x = triage(Agency::Joint, Grade::Emergency, "J01");
    let first = t.route(&x, &at("SS14 1AA"), &load);
    for _ in 0..100 {
        assert_eq!(t.route(&x, &at("SS14 1AA"), &load), first);
    }
}

fn problems(text: &str) -> String {
    compile("desks.toml", text)
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn bad_desks_files_are_refused_with_clear_messages() {
    let base = DEFAULT_DESKS;
    let cases = [
        (base.replace("areas = [\"colchester\",", "areas = [\"narnia\", \"colchester\","), "unknown area \"narnia\""),
        (base.replace("id = \"fire-overflow\"", "id = \"fire-control\""), "desk \"fire-control\" is defined twice"),
        (base.replace("overflow = \"fire-overflow\"", "overflow = \"nowhere\""), "overflow desk \"nowhere\" does not exist"),
        (
            base.replace(
                "id = \"fire-overflow\"\nname = \"Fire control overflow\"\nagency = \"FIRE\"\noverflow = \"supervisor\"",
                "id = \"fire-overflow\"\nname = \"Fire control overflow\"\nagency = \"FIRE\"\noverflow = \"fire-control\"",
            ),
            "cycle",
        ),
        (base.replace("areas = [\"*\"]", "areas = [\"chelmsford\"]"), "area \"colchester\" has no FIRE desk"),
        (base.replace("\"CO1\", \"CO2\"", "\"CM1\", \"CO2\""), "postcode district CM1 is in both"),
        (base.replace("fallback_area = \"chelmsford\"", "fallback_area = \"atlantis\""), "fallback_area"),
        (base.replace("role = \"resolution\"", "agency = \"POLICE\""), "no desk has role = \"resolution\""),
        (base.replace("hazmat = [\"J08\"]", "hazmat = [\"J08\"]\ncooking = [\"F01\"]"), "\"cooking\" has no desk"),
    ];
    for (text, expected) in cases {
        let p = problems(&text);
        assert!(p.contains(expected), "expected {expected:?} in:\n{p}");
    }
    assert_eq!(problems(base), "");
}
