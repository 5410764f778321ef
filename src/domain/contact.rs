//! A contact: one call, form, SMS, eCall or alarm, as received and validated.

use serde::{Deserialize, Serialize};

use super::names::named_enum;
use super::validation::Violations;

/// The longest narrative accepted, in bytes.
pub const MAX_NARRATIVE_BYTES: usize = 8 * 1024;
/// The longest client contact id accepted, in bytes.
pub const MAX_CONTACT_ID_BYTES: usize = 128;

named_enum! {
    /// How the contact reached the centre.
    Channel, "channel" {
        Unspecified = 0 => "UNSPECIFIED",
        Phone999 = 1 => "PHONE_999",
        Phone101 = 2 => "PHONE_101",
        OnlineForm = 3 => "ONLINE_FORM",
        Webchat = 4 => "WEBCHAT",
        EmergencySms = 5 => "EMERGENCY_SMS",
        TextRelay = 6 => "TEXT_RELAY",
        Ecall = 7 => "ECALL",
        AlarmReceivingCentre = 8 => "ALARM_RECEIVING_CENTRE",
    }
}

named_enum! {
    /// The category chosen on an online reporting form.
    OnlineCategory, "online category" {
        Unspecified = 0 => "unspecified",
        Crime = 1 => "crime",
        RoadTrafficIncident = 2 => "road_traffic_incident",
        AntisocialBehaviour = 3 => "antisocial_behaviour",
        MissingPerson = 4 => "missing_person",
        FireSafetyConcern = 5 => "fire_safety_concern",
        LostFoundProperty = 6 => "lost_found_property",
        CivilDispute = 7 => "civil_dispute",
        Other = 8 => "other",
    }
}

named_enum! { Happening, "happening" {
    Unknown = 0 => "UNKNOWN", InProgress = 1 => "IN_PROGRESS",
    JustOccurred = 2 => "JUST_OCCURRED", Past = 3 => "PAST",
} }

named_enum! { Injuries, "injuries" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", Minor = 2 => "MINOR",
    Serious = 3 => "SERIOUS", LifeThreatening = 4 => "LIFE_THREATENING",
} }

named_enum! { FireSeen, "fire" {
    Unknown = 0 => "UNKNOWN", Flames = 1 => "FLAMES", Smoke = 2 => "SMOKE",
    Smell = 3 => "SMELL", None = 4 => "NONE",
} }

named_enum! { Trapped, "trapped" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", Building = 2 => "BUILDING",
    Vehicle = 3 => "VEHICLE", Water = 4 => "WATER", Height = 5 => "HEIGHT", Lift = 6 => "LIFT",
    Machinery = 7 => "MACHINERY", LockedIn = 8 => "LOCKED_IN",
} }

named_enum! { Weapons, "weapons" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", Firearm = 2 => "FIREARM",
    Knife = 3 => "KNIFE", Other = 4 => "OTHER", Threatened = 5 => "THREATENED",
} }

named_enum! { Suspect, "suspect" {
    Unknown = 0 => "UNKNOWN", Present = 1 => "PRESENT", LeftInArea = 2 => "LEFT_IN_AREA",
    Left = 3 => "LEFT", None = 4 => "NONE",
} }

named_enum! { Deliberate, "deliberate" {
    Unknown = 0 => "UNKNOWN", Yes = 1 => "YES", No = 2 => "NO",
} }

named_enum! { SelfHarm, "self_harm" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", Threat = 2 => "THREAT",
    AttemptInProgress = 3 => "ATTEMPT_IN_PROGRESS",
} }

named_enum! { Vulnerability, "vulnerability" {
    Unspecified = 0 => "UNSPECIFIED", Child = 1 => "CHILD", Elderly = 2 => "ELDERLY",
    Disability = 3 => "DISABILITY", MentalHealth = 4 => "MENTAL_HEALTH",
    DomesticAbuse = 5 => "DOMESTIC_ABUSE", RepeatVictim = 6 => "REPEAT_VICTIM",
} }

named_enum! { Access, "access" {
    Unknown = 0 => "UNKNOWN", Ok = 1 => "OK", LockedNoAnswer = 2 => "LOCKED_NO_ANSWER",
    SoundsOfDistress = 3 => "SOUNDS_OF_DISTRESS",
} }

named_enum! { Hazard, "hazard" {
    Unspecified = 0 => "UNSPECIFIED", Gas = 1 => "GAS", Chemicals = 2 => "CHEMICALS",
    Fuel = 3 => "FUEL", Battery = 4 => "BATTERY", Electricity = 5 => "ELECTRICITY",
    Cylinders = 6 => "CYLINDERS", SuspiciousItem = 7 => "SUSPICIOUS_ITEM",
} }

named_enum! { Road, "road" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", Road = 2 => "ROAD",
    RoadBlocked = 3 => "ROAD_BLOCKED", MotorwayLiveLane = 4 => "MOTORWAY_LIVE_LANE",
} }

named_enum! { Building, "building" {
    Unknown = 0 => "UNKNOWN", Dwelling = 1 => "DWELLING", Hmo = 2 => "HMO",
    HighRise = 3 => "HIGH_RISE", SleepingRisk = 4 => "SLEEPING_RISK",
    Commercial = 5 => "COMMERCIAL", OpenLand = 6 => "OPEN_LAND",
} }

named_enum! { Alarm, "alarm" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", AfaUnconfirmed = 2 => "AFA_UNCONFIRMED",
    AfaConfirmed = 3 => "AFA_CONFIRMED", Intruder = 4 => "INTRUDER", Panic = 5 => "PANIC",
} }

named_enum! { OtherAgencyRequest, "other_agency_request" {
    Unknown = 0 => "UNKNOWN", None = 1 => "NONE", Ambulance = 2 => "AMBULANCE",
    Police = 3 => "POLICE", Fire = 4 => "FIRE",
} }

named_enum! {
    /// Where a location came from.
    LocationSource, "location source" {
        Unspecified = 0 => "UNSPECIFIED", Aml = 1 => "AML", Eisec = 2 => "EISEC",
        Ecall = 3 => "ECALL", Caller = 4 => "CALLER", MapPin = 5 => "MAP_PIN",
    }
}

macro_rules! default_first {
    ($($t:ident),+) => { $(impl Default for $t { fn default() -> Self { $t::ALL[0] } })+ };
}
default_first!(
    Channel,
    OnlineCategory,
    Happening,
    Injuries,
    FireSeen,
    Trapped,
    Weapons,
    Suspect,
    Deliberate,
    SelfHarm,
    Access,
    Road,
    Building,
    Alarm,
    OtherAgencyRequest,
    LocationSource,
    Vulnerability,
    Hazard
);

/// The structured answers a call handler records. Every one is optional: a missing answer is
/// `Unknown`, and triage never lowers priority because of an unknown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Answers {
    pub happening: Happening,
    pub injuries: Injuries,
    pub fire: FireSeen,
    pub trapped: Trapped,
    pub weapons: Weapons,
    pub suspect: Suspect,
    pub deliberate: Deliberate,
    pub self_harm: SelfHarm,
    pub vulnerability: Vec<Vulnerability>,
    pub access: Access,
    pub hazards: Vec<Hazard>,
    pub casualties: Option<u32>,
    pub road: Road,
    pub building: Building,
    pub alarm: Alarm,
    pub other_agency_request: OtherAgencyRequest,
}

/// Calls `$each!(field, Type)` for every single-valued answer field.
macro_rules! single_fields {
    ($each:ident) => {
        $each!(happening, Happening);
        $each!(injuries, Injuries);
        $each!(fire, FireSeen);
        $each!(trapped, Trapped);
        $each!(weapons, Weapons);
        $each!(suspect, Suspect);
        $each!(deliberate, Deliberate);
        $each!(self_harm, SelfHarm);
        $each!(access, Access);
        $each!(road, Road);
        $each!(building, Building);
        $each!(alarm, Alarm);
        $each!(other_agency_request, OtherAgencyRequest);
    };
}

impl Answers {
    /// True when no answer at all was recorded.
    pub fn is_empty(&self) -> bool {
        *self == Answers::default()
    }

    /// Records `value` (a value's name, as in the API) for the field named `field`; a list
    /// field gains the value. False, and nothing changed, when either name is unknown.
    pub fn set(&mut self, field: &str, value: &str) -> bool {
        macro_rules! one {
            ($f:ident, $t:ty) => {
                if field == stringify!($f) {
                    return value.parse::<$t>().map(|v| self.$f = v).is_ok();
                }
            };
        }
        single_fields!(one);
        match field {
            "vulnerability" => value.parse().map(|v| self.vulnerability.push(v)).is_ok(),
            "hazards" => value.parse().map(|v| self.hazards.push(v)).is_ok(),
            _ => false,
        }
    }

    /// Whether the field named `field` is unanswered (unknown, or an empty list).
    pub fn is_unknown(&self, field: &str) -> bool {
        macro_rules! one {
            ($f:ident, $t:ty) => {
                if field == stringify!($f) {
                    return self.$f == <$t>::default();
                }
            };
        }
        single_fields!(one);
        match field {
            "vulnerability" => self.vulnerability.is_empty(),
            "hazards" => self.hazards.is_empty(),
            "casualties" => self.casualties.is_none(),
            _ => true,
        }
    }

    /// Takes the field named `field` from `other`; false when `other` does not answer it.
    pub fn take_field(&mut self, other: &Answers, field: &str) -> bool {
        if other.is_unknown(field) {
            return false;
        }
        macro_rules! one {
            ($f:ident, $t:ty) => {
                if field == stringify!($f) {
                    self.$f = other.$f;
                    return true;
                }
            };
        }
        single_fields!(one);
        match field {
            "vulnerability" => self.vulnerability.clone_from(&other.vulnerability),
            "hazards" => self.hazards.clone_from(&other.hazards),
            "casualties" => self.casualties = other.casualties,
            _ => return false,
        }
        true
    }
}

/// Where it is happening, with where that came from. Never rewritten.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Location {
    pub postcode: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<u32>,
    pub source: LocationSource,
}

/// Who made contact. Never logged, never a metric label.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Caller {
    pub name: String,
    pub phone: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Caller { .. }")
    }
}

/// A validated contact. Build one with [`Contact::validated`], which every edge (gRPC, JSON lines)
/// goes through, so the rules of what is acceptable live here once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contact {
    pub contact_id: String,
    pub channel: Channel,
    pub narrative: String,
    pub category: OnlineCategory,
    pub answers: Answers,
    pub location: Location,
    pub caller: Caller,
}

impl Contact {
    /// Checks everything that can be wrong with a contact at once, so a client hears of every
    /// problem in one answer. `require_id` is false for previews and offline triage.
    pub fn validated(self, require_id: bool) -> Result<Contact, Violations> {
        let mut v = Violations::default();
        if require_id && self.contact_id.is_empty() {
            v.add(
                "contact.contact_id",
                "is required: the client's own id for this contact, reused on retry",
            );
        }
        if self.contact_id.len() > MAX_CONTACT_ID_BYTES {
            v.add(
                "contact.contact_id",
                format!("is longer than {MAX_CONTACT_ID_BYTES} bytes"),
            );
        }
        if !self
            .contact_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            v.add(
                "contact.contact_id",
                "may hold only letters, digits, '-', '_', '.' and ':'",
            );
        }
        if self.narrative.len() > MAX_NARRATIVE_BYTES {
            v.add(
                "contact.narrative",
                format!(
                    "is {} bytes; the limit is {MAX_NARRATIVE_BYTES}",
                    self.narrative.len()
                ),
            );
        }
        if self.narrative.trim().is_empty() && self.answers.is_empty() {
            v.add(
                "contact.narrative",
                "a narrative or at least one answer is required",
            );
        }
        if self
            .answers
            .vulnerability
            .contains(&Vulnerability::Unspecified)
        {
            v.add(
                "contact.answers.vulnerability",
                "holds an unspecified value",
            );
        }
        if self.answers.hazards.contains(&Hazard::Unspecified) {
            v.add("contact.answers.hazards", "holds an unspecified value");
        }
        let loc = &self.location;
        match (loc.lat, loc.lon) {
            (Some(lat), _) if !(-90.0..=90.0).contains(&lat) => {
                v.add("contact.location.lat", format!("{lat} is outside -90..90"))
            }
            (_, Some(lon)) if !(-180.0..=180.0).contains(&lon) => v.add(
                "contact.location.lon",
                format!("{lon} is outside -180..180"),
            ),
            (Some(_), None) => v.add("contact.location.lon", "is required with lat"),
            (None, Some(_)) => v.add("contact.location.lat", "is required with lon"),
            _ => {}
        }
        if loc.postcode.len() > 16 {
            v.add("contact.location.postcode", "is longer than 16 characters");
        } else if matches!(self.channel, Channel::OnlineForm | Channel::Webchat)
            && !loc.postcode.trim().is_empty()
            && !is_uk_postcode(&loc.postcode)
        {
            // Only where the public types it themselves and can correct it. A handler's or a
            // machine's postcode field may hold a place name or half a postcode; refusing an
            // emergency over it would be worse than routing it to the fallback area.
            v.add(
                "contact.location.postcode",
                "is not a UK postcode: give it as on a letter, like CM1 1AA, or as much as is known, like CM1 or CM1 1",
            );
        }
        if loc.address.len() > 1024 {
            v.add("contact.location.address", "is longer than 1024 bytes");
        }
        v.into_result(self)
    }
}

/// A UK postcode ("CM1 1AA", "cm11aa", "EC1A 1BB"), or as much of it as a caller may know: the
/// outward part alone ("CM1") or with the sector ("RM17 5").
pub fn is_uk_postcode(text: &str) -> bool {
    postcode_outward(text).is_some()
}

/// The outward part of a postcode, upper case: the district that routing looks up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outward {
    bytes: [u8; 4],
    len: u8,
}

impl Outward {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The outward part of a UK postcode given whole ("CM1 1AA", "cm11aa"), as its outward part
/// alone ("CM1"), or with the sector ("RM17 5"): an area, one or two letters; a district, a
/// digit then maybe a letter or digit; then maybe the inward part (a digit and two letters) or,
/// after a space, its digit alone. `None` when the text is none of these. Allocates nothing.
pub fn postcode_outward(text: &str) -> Option<Outward> {
    let mut parts = text.split_ascii_whitespace();
    let (first, second, rest) = (parts.next()?, parts.next(), parts.next());
    let sector = matches!(second, Some(s) if s.len() == 1 && s.as_bytes()[0].is_ascii_digit());
    let mut b = [0u8; 7];
    let mut n = 0;
    if sector && rest.is_none() {
        for &c in first.as_bytes() {
            *b.get_mut(n)? = c.to_ascii_uppercase();
            n += 1;
        }
    } else {
        for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
            *b.get_mut(n)? = c.to_ascii_uppercase();
            n += 1;
        }
        let inward =
            n >= 5 && b[n - 3].is_ascii_digit() && b[n - 2..n].iter().all(u8::is_ascii_uppercase);
        if inward {
            n -= 3;
        }
    }
    let outward = &b[..n];
    let letters = outward
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    let district = &outward[letters..];
    let valid = (1..=2).contains(&letters)
        && matches!(district, [d] | [d, _] if d.is_ascii_digit())
        && district.iter().all(u8::is_ascii_alphanumeric);
    valid.then(|| {
        let mut bytes = [0u8; 4];
        bytes[..n].copy_from_slice(outward);
        Outward {
            bytes,
            len: n as u8,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::is_uk_postcode;

    #[test]
    fn postcodes_are_told_from_other_text() {
        for ok in [
            "CM1 1AA", "cm11aa", "EC1A 1BB", "SS14 3AB", "W1A 0AX", "CM1", "co15", "ZZ99 9ZZ",
            "RM17 5", "ec1a 1",
        ] {
            assert!(is_uk_postcode(ok), "{ok}");
        }
        for bad in [
            "NOT A POSTCODE",
            "12345",
            "CM",
            "C",
            "CMX1 1AA",
            "CM1 1A",
            "CM1 1AA 1",
            "CM1 12",
            "RM175",
            "1AA",
            "chelmsford",
        ] {
            assert!(!is_uk_postcode(bad), "{bad}");
        }
    }

    #[test]
    fn the_outward_part_is_what_routing_looks_up() {
        for (text, outward) in [
            ("CM1 1AA", "CM1"),
            ("cm11aa", "CM1"),
            ("RM17 5", "RM17"),
            ("cm1 1", "CM1"),
            ("EC1A 1BB", "EC1A"),
            ("SS14", "SS14"),
            ("  co15  ", "CO15"),
        ] {
            let got = super::postcode_outward(text).expect(text);
            assert_eq!(got.as_bytes(), outward.as_bytes(), "{text}");
        }
    }
}
