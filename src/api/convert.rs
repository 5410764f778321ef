//! proto <-> domain. Decoding a request builds domain types and reports every bad field at once;
//! encoding a reply is plain copying.

use crate::domain::{self as d, Violations};
use crate::proto as p;

/// Decodes an API enum number, noting a violation (and using the default) when it is unknown.
fn decode<T: Default>(
    v: &mut Violations,
    field: &str,
    code: i32,
    from: fn(i32) -> Option<T>,
    names: &[&str],
) -> T {
    from(code).unwrap_or_else(|| {
        v.add(
            field,
            format!("unknown value {code}; expected one of {}", names.join(", ")),
        );
        T::default()
    })
}

fn decode_list<T: Default>(
    v: &mut Violations,
    field: &str,
    codes: &[i32],
    from: fn(i32) -> Option<T>,
    names: &[&str],
) -> Vec<T> {
    codes
        .iter()
        .map(|c| decode(v, field, *c, from, names))
        .collect()
}

/// A contact from the API, validated. `require_id` is false for previews.
pub fn contact(c: Option<p::Contact>, require_id: bool) -> Result<d::Contact, Violations> {
    let Some(c) = c else {
        return Err(Violations::one("contact", "is required"));
    };
    let mut v = Violations::default();
    let a = c.answers.unwrap_or_default();
    let f = |name: &str| format!("contact.answers.{name}");
    let answers = d::Answers {
        happening: decode(
            &mut v,
            &f("happening"),
            a.happening,
            d::Happening::from_code,
            d::Happening::NAMES,
        ),
        injuries: decode(
            &mut v,
            &f("injuries"),
            a.injuries,
            d::Injuries::from_code,
            d::Injuries::NAMES,
        ),
        fire: decode(
            &mut v,
            &f("fire"),
            a.fire,
            d::FireSeen::from_code,
            d::FireSeen::NAMES,
        ),
        trapped: decode(
            &mut v,
            &f("trapped"),
            a.trapped,
            d::Trapped::from_code,
            d::Trapped::NAMES,
        ),
        weapons: decode(
            &mut v,
            &f("weapons"),
            a.weapons,
            d::Weapons::from_code,
            d::Weapons::NAMES,
        ),
        suspect: decode(
            &mut v,
            &f("suspect"),
            a.suspect,
            d::Suspect::from_code,
            d::Suspect::NAMES,
        ),
        deliberate: decode(
            &mut v,
            &f("deliberate"),
            a.deliberate,
            d::Deliberate::from_code,
            d::Deliberate::NAMES,
        ),
        self_harm: decode(
            &mut v,
            &f("self_harm"),
            a.self_harm,
            d::SelfHarm::from_code,
            d::SelfHarm::NAMES,
        ),
        vulnerability: decode_list(
            &mut v,
            &f("vulnerability"),
            &a.vulnerability,
            d::Vulnerability::from_code,
            d::Vulnerability::NAMES,
        ),
        access: decode(
            &mut v,
            &f("access"),
            a.access,
            d::Access::from_code,
            d::Access::NAMES,
        ),
        hazards: decode_list(
            &mut v,
            &f("hazards"),
            &a.hazards,
            d::Hazard::from_code,
            d::Hazard::NAMES,
        ),
        casualties: a.casualties,
        road: decode(
            &mut v,
            &f("road"),
            a.road,
            d::Road::from_code,
            d::Road::NAMES,
        ),
        building: decode(
            &mut v,
            &f("building"),
            a.building,
            d::Building::from_code,
            d::Building::NAMES,
        ),
        alarm: decode(
            &mut v,
            &f("alarm"),
            a.alarm,
            d::Alarm::from_code,
            d::Alarm::NAMES,
        ),
        other_agency_request: decode(
            &mut v,
            &f("other_agency_request"),
            a.other_agency_request,
            d::OtherAgencyRequest::from_code,
            d::OtherAgencyRequest::NAMES,
        ),
    };
    let l = c.location.unwrap_or_default();
    let location = d::Location {
        postcode: l.postcode,
        address: l.address,
        lat: l.lat,
        lon: l.lon,
        accuracy_m: l.accuracy_m,
        source: decode(
            &mut v,
            "contact.location.source",
            l.source,
            d::LocationSource::from_code,
            d::LocationSource::NAMES,
        ),
    };
    let caller = c.caller.unwrap_or_default();
    let contact = d::Contact {
        contact_id: c.contact_id,
        channel: decode(
            &mut v,
            "contact.channel",
            c.channel,
            d::Channel::from_code,
            d::Channel::NAMES,
        ),
        narrative: c.narrative,
        category: decode(
            &mut v,
            "contact.category",
            c.category,
            d::OnlineCategory::from_code,
            d::OnlineCategory::NAMES,
        ),
        answers,
        location,
        caller: d::Caller {
            name: caller.name,
            phone: caller.phone,
        },
    };
    match contact.validated(require_id) {
        Ok(c) if v.is_empty() => Ok(c),
        Ok(_) => Err(v),
        Err(more) => {
            v.0.extend(more.0);
            Err(v)
        }
    }
}

/// A domain contact as the API sends it (the command-line clients use this).
pub fn contact_to_proto(c: &d::Contact) -> p::Contact {
    let a = &c.answers;
    p::Contact {
        contact_id: c.contact_id.clone(),
        channel: c.channel.code(),
        narrative: c.narrative.clone(),
        category: c.category.code(),
        answers: Some(p::Answers {
            happening: a.happening.code(),
            injuries: a.injuries.code(),
            fire: a.fire.code(),
            trapped: a.trapped.code(),
            weapons: a.weapons.code(),
            suspect: a.suspect.code(),
            deliberate: a.deliberate.code(),
            self_harm: a.self_harm.code(),
            vulnerability: a.vulnerability.iter().map(|x| x.code()).collect(),
            access: a.access.code(),
            hazards: a.hazards.iter().map(|x| x.code()).collect(),
            casualties: a.casualties,
            road: a.road.code(),
            building: a.building.code(),
            alarm: a.alarm.code(),
            other_agency_request: a.other_agency_request.code(),
        }),
        location: Some(location(&c.location)),
        caller: Some(p::Caller {
            name: c.caller.name.clone(),
            phone: c.caller.phone.clone(),
        }),
    }
}

fn location(l: &d::Location) -> p::Location {
    p::Location {
        postcode: l.postcode.clone(),
        address: l.address.clone(),
        lat: l.lat,
        lon: l.lon,
        accuracy_m: l.accuracy_m,
        source: l.source.code(),
    }
}

pub fn triage(t: &d::Triage) -> p::Triage {
    p::Triage {
        agency: t.agency.code(),
        lead_agency: t.lead_agency.code(),
        grade: t.grade.code(),
        incident_type: t.incident_type.to_string(),
        incident_type_name: t.incident_type_name.to_string(),
        qualifiers: t.qualifiers.iter().map(|q| q.to_string()).collect(),
        referral: t.referral.map_or(0, |r| r.code()),
        confidence: t.confidence,
        reasons: t.reasons.clone(),
        needs_confirmation: t.needs_confirmation,
        next_question: t.next_question.as_ref().map(|q| p::Question {
            field: q.field.clone(),
            text: q.text.clone(),
        }),
    }
}

pub fn route(r: &d::Route) -> p::Route {
    p::Route {
        desks: r.desks.clone(),
        area: r.area.clone(),
        reasons: r.reasons.clone(),
    }
}

pub fn incident(i: &d::Incident) -> p::Incident {
    p::Incident {
        reference: i.reference.clone(),
        state: i.state().code(),
        triage: Some(triage(&i.triage)),
        route: Some(route(&i.route)),
        channel: i.channel.code(),
        location: Some(location(&i.location)),
        contact_ids: i.contact_ids.clone(),
        tasks: i
            .tasks
            .iter()
            .map(|t| p::DeskTask {
                desk: t.desk.clone(),
                state: t.state.code(),
                dispatcher: t.dispatcher.clone(),
                lease_expires_at_ms: t.lease_expires_at_ms,
                outcome: t.outcome.clone(),
            })
            .collect(),
        created_at_ms: i.created_at_ms,
        updated_at_ms: i.updated_at_ms,
        caller: Some(p::Caller {
            name: i.caller.name.clone(),
            phone: i.caller.phone.clone(),
        }),
    }
}

pub fn lease(l: &d::Lease) -> p::Lease {
    p::Lease {
        reference: l.reference.clone(),
        desk: l.desk.clone(),
        dispatcher: l.dispatcher.clone(),
        token: l.token,
        expires_at_ms: l.expires_at_ms,
    }
}

pub fn queue_entry(e: &d::QueueEntry) -> p::QueueEntry {
    p::QueueEntry {
        reference: e.reference.clone(),
        grade: e.grade.code(),
        incident_type: e.incident_type.clone(),
        agency: e.agency.code(),
        queued_at_ms: e.queued_at_ms,
        wait_ms: e.wait_ms,
    }
}

pub fn desk_event(e: &d::DeskEvent) -> p::DeskEvent {
    p::DeskEvent {
        id: e.id.clone(),
        kind: e.kind.clone(),
        reference: e.reference.clone(),
        at_ms: e.at_ms,
        details: e.details.iter().cloned().collect(),
    }
}

pub fn desk_stats(s: &d::DeskStats) -> p::DeskStats {
    p::DeskStats {
        desk: s.desk.clone(),
        open: s.open,
        depth: s.depth,
        oldest_wait_ms: s.oldest_wait_ms,
    }
}

/// The time a call has left, from its `grpc-timeout` header ("30S", "2500m": digits, then H, M,
/// S, m, u or n), if it set one.
pub fn time_left(meta: &tonic::metadata::MetadataMap) -> Option<std::time::Duration> {
    use std::time::Duration;
    let v = meta.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The domain enums share their numbers with the API's: a drift would silently mistranslate.
    #[test]
    fn domain_and_api_enums_agree_name_for_name() {
        fn same(domain: &[&str], api: impl Fn(i32) -> Option<&'static str>, prefix: &str) {
            for (i, name) in domain.iter().enumerate() {
                let api_name =
                    api(i as i32).unwrap_or_else(|| panic!("{prefix}{name} missing in the API"));
                let stripped = api_name.strip_prefix(prefix).unwrap();
                assert!(
                    stripped.eq_ignore_ascii_case(name)
                        || (stripped == "UNSPECIFIED"
                            && matches!(*name, "UNSPECIFIED" | "unspecified")),
                    "{api_name} vs {name}"
                );
            }
            assert!(
                api(domain.len() as i32).is_none(),
                "{prefix}: the API has more values"
            );
        }
        same(
            d::Channel::NAMES,
            |i| p::Channel::try_from(i).ok().map(|e| e.as_str_name()),
            "CHANNEL_",
        );
        same(
            d::OnlineCategory::NAMES,
            |i| p::OnlineCategory::try_from(i).ok().map(|e| e.as_str_name()),
            "ONLINE_CATEGORY_",
        );
        same(
            d::Happening::NAMES,
            |i| p::Happening::try_from(i).ok().map(|e| e.as_str_name()),
            "HAPPENING_",
        );
        same(
            d::Injuries::NAMES,
            |i| p::Injuries::try_from(i).ok().map(|e| e.as_str_name()),
            "INJURIES_",
        );
        same(
            d::FireSeen::NAMES,
            |i| p::Fire::try_from(i).ok().map(|e| e.as_str_name()),
            "FIRE_",
        );
        same(
            d::Trapped::NAMES,
            |i| p::Trapped::try_from(i).ok().map(|e| e.as_str_name()),
            "TRAPPED_",
        );
        same(
            d::Weapons::NAMES,
            |i| p::Weapons::try_from(i).ok().map(|e| e.as_str_name()),
            "WEAPONS_",
        );
        same(
            d::Suspect::NAMES,
            |i| p::Suspect::try_from(i).ok().map(|e| e.as_str_name()),
            "SUSPECT_",
        );
        same(
            d::Deliberate::NAMES,
            |i| p::Deliberate::try_from(i).ok().map(|e| e.as_str_name()),
            "DELIBERATE_",
        );
        same(
            d::SelfHarm::NAMES,
            |i| p::SelfHarm::try_from(i).ok().map(|e| e.as_str_name()),
            "SELF_HARM_",
        );
        same(
            d::Vulnerability::NAMES,
            |i| p::Vulnerability::try_from(i).ok().map(|e| e.as_str_name()),
            "VULNERABILITY_",
        );
        same(
            d::Access::NAMES,
            |i| p::Access::try_from(i).ok().map(|e| e.as_str_name()),
            "ACCESS_",
        );
        same(
            d::Hazard::NAMES,
            |i| p::Hazard::try_from(i).ok().map(|e| e.as_str_name()),
            "HAZARD_",
        );
        same(
            d::Road::NAMES,
            |i| p::Road::try_from(i).ok().map(|e| e.as_str_name()),
            "ROAD_",
        );
        same(
            d::Building::NAMES,
            |i| p::Building::try_from(i).ok().map(|e| e.as_str_name()),
            "BUILDING_",
        );
        same(
            d::Alarm::NAMES,
            |i| p::Alarm::try_from(i).ok().map(|e| e.as_str_name()),
            "ALARM_",
        );
        same(
            d::OtherAgencyRequest::NAMES,
            |i| {
                p::OtherAgencyRequest::try_from(i)
                    .ok()
                    .map(|e| e.as_str_name())
            },
            "OTHER_AGENCY_REQUEST_",
        );
        same(
            d::LocationSource::NAMES,
            |i| p::LocationSource::try_from(i).ok().map(|e| e.as_str_name()),
            "LOCATION_SOURCE_",
        );
        same(
            d::Agency::NAMES,
            |i| p::Agency::try_from(i).ok().map(|e| e.as_str_name()),
            "AGENCY_",
        );
        same(
            d::Referral::NAMES,
            |i| p::Referral::try_from(i).ok().map(|e| e.as_str_name()),
            "REFERRAL_",
        );
        same(
            d::IncidentState::NAMES,
            |i| p::IncidentState::try_from(i).ok().map(|e| e.as_str_name()),
            "INCIDENT_STATE_",
        );
    }

    #[test]
    fn a_calls_time_left_is_read_from_its_grpc_timeout() {
        use std::time::Duration;
        let left = |v: &str| {
            let mut m = tonic::metadata::MetadataMap::new();
            m.insert("grpc-timeout", v.parse().unwrap());
            super::time_left(&m)
        };
        assert_eq!(left("30S"), Some(Duration::from_secs(30)));
        assert_eq!(left("2500m"), Some(Duration::from_millis(2500)));
        assert_eq!(left("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(left("S"), None);
        assert_eq!(left("123456789S"), None);
        assert_eq!(left("10x"), None);
        assert_eq!(super::time_left(&tonic::metadata::MetadataMap::new()), None);
    }
}
