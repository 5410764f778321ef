//! Routing: which dispatch desk or desks must act on a triaged incident, and why.
//!
//! The desks and areas are data (`config/desks.toml` ships the Essex default) compiled once into
//! a [`Table`] of index lookups. [`Table::route`] is pure, deterministic and allocation-free: it
//! reads the triage, the location and a [`Load`] snapshot of desk status (open/closed, depth,
//! oldest wait) that the service refreshes from Redis in the background; it never does I/O.
//!
//! Decisions:
//! - grade 4 (resolution without deployment) and referrals -> the resolution desk;
//! - POLICE -> the police desk for the area; FIRE -> the fire desk for the area;
//! - JOINT -> both, plus the joint desk when one is configured;
//! - a type that needs a skill -> the desk with that skill, in place of the area desk of the
//!   same agency;
//! - a desk that is closed, at capacity or over its oldest-wait threshold -> its overflow desk,
//!   following the chain; if the whole chain is unavailable, the supervisor.

mod table;

use rustc_hash::FxHashMap;

use arrayvec::ArrayVec;

pub use table::{Area, Bounds, DEFAULT_DESKS, Desk, DesksError, compile};

use crate::domain::{Agency, Grade, Location, Route, Triage};

/// Index of a desk in its [`Table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeskId(pub u16);

/// Index of an area in its [`Table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AreaId(pub u16);

/// The most desks one incident is routed to.
pub const MAX_DESKS: usize = 4;
/// The most notes one decision carries.
pub const MAX_NOTES: usize = 8;

/// How the area was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaSource {
    Postcode,
    Coordinates,
    /// Nothing usable: no postcode district we know, no accurate coordinates in the county.
    Fallback,
}

/// Why a desk could not take new work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    Closed,
    AtCapacity,
    QueueTooOld,
}

/// One reason of a routing decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    Area(AreaSource),
    Resolution,
    AreaDesk(Agency),
    Skill(DeskId),
    JointDesk,
    Overflow {
        from: DeskId,
        to: DeskId,
        why: Unavailable,
    },
    Supervisor {
        from: DeskId,
    },
}

/// A routing decision, by index; [`Table::explain`] turns it into names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub area: AreaId,
    pub desks: ArrayVec<DeskId, MAX_DESKS>,
    pub notes: ArrayVec<Note, MAX_NOTES>,
}

/// Live status of the desks, indexed by [`DeskId`]. Missing entries mean open and empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Load {
    pub closed: Vec<bool>,
    pub depth: Vec<u32>,
    pub oldest_wait_ms: Vec<i64>,
}

/// A compiled desks and areas file.
#[derive(Debug, Clone)]
pub struct Table {
    areas: Vec<Area>,
    desks: Vec<Desk>,
    police_for: Vec<DeskId>,
    fire_for: Vec<DeskId>,
    joint: Option<DeskId>,
    resolution: DeskId,
    supervisor: DeskId,
    /// Looked up for every contact: hashed with a fast hash, not a DoS-resistant one (the keys
    /// come from the desks file, which nobody outside can fill).
    type_skill: FxHashMap<String, DeskId>,
    postcodes: FxHashMap<u32, AreaId>,
    fallback: AreaId,
    max_accuracy_m: u32,
    bounds: Option<Bounds>,
}

impl Table {
    /// The Essex configuration that ships with bluelight.
    pub fn default_desks() -> Table {
        compile("<built-in desks>", DEFAULT_DESKS).expect("the shipped desks compile")
    }

    /// Loads and compiles a desks file.
    pub fn load(path: &std::path::Path) -> Result<Table, DesksError> {
        let name = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| DesksError {
            problems: vec![format!("{name}: cannot read: {e}")],
        })?;
        compile(&name, &source)
    }

    pub fn desks(&self) -> &[Desk] {
        &self.desks
    }

    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    pub fn desk(&self, id: DeskId) -> &Desk {
        &self.desks[id.0 as usize]
    }

    /// The desk with this id, if configured.
    pub fn desk_id(&self, id: &str) -> Option<DeskId> {
        self.desks
            .iter()
            .position(|d| d.id == id)
            .map(|i| DeskId(i as u16))
    }

    pub fn supervisor(&self) -> DeskId {
        self.supervisor
    }

    /// The overflow desk of the desk with this id, if it has one.
    pub fn overflow_of(&self, desk: &str) -> Option<&str> {
        let id = self.desk_id(desk)?;
        self.desk(id).overflow.map(|o| self.desk(o).id.as_str())
    }

    /// Decides the desks for a triaged incident. Pure and allocation-free.
    pub fn route(&self, triage: &Triage, location: &Location, load: &Load) -> Decision {
        let mut d = Decision {
            area: self.fallback,
            desks: ArrayVec::new(),
            notes: ArrayVec::new(),
        };
        let (area, source) = self.area_of(location);
        d.area = area;
        push_note(&mut d, Note::Area(source));

        if triage.grade == Grade::Resolution || triage.agency == Agency::None {
            push_note(&mut d, Note::Resolution);
            self.add(&mut d, self.resolution, load);
            return d;
        }
        let skill = self.type_skill.get(&*triage.incident_type).copied();
        let skill_agency = skill.map(|s| self.desk(s).agency);
        let a = area.0 as usize;
        let wants = |agency: Agency| triage.agency == Agency::Joint || triage.agency == agency;
        for agency in [Agency::Police, Agency::Fire] {
            if !wants(agency) {
                continue;
            }
            match skill {
                Some(s) if skill_agency == Some(agency) => {
                    push_note(&mut d, Note::Skill(s));
                    self.add(&mut d, s, load);
                }
                _ => {
                    push_note(&mut d, Note::AreaDesk(agency));
                    let desk = if agency == Agency::Police {
                        self.police_for[a]
                    } else {
                        self.fire_for[a]
                    };
                    self.add(&mut d, desk, load);
                }
            }
        }
        if triage.agency == Agency::Joint {
            if let Some(j) = self.joint {
                push_note(&mut d, Note::JointDesk);
                self.add(&mut d, j, load);
            }
            // A skill desk of neither agency's own (for example a JOINT-only skill) still acts.
            if let Some(s) = skill
                && skill_agency == Some(Agency::Joint)
            {
                push_note(&mut d, Note::Skill(s));
                self.add(&mut d, s, load);
            }
        }
        d
    }

    /// Adds `desk`, or where it cannot take work, the first available desk of its overflow chain,
    /// or the supervisor. Never adds a desk twice.
    fn add(&self, d: &mut Decision, desk: DeskId, load: &Load) {
        let mut at = desk;
        let chosen = loop {
            match self.unavailable(at, load) {
                None => break at,
                Some(why) => match self.desk(at).overflow {
                    Some(next) => {
                        push_note(
                            d,
                            Note::Overflow {
                                from: at,
                                to: next,
                                why,
                            },
                        );
                        at = next;
                    }
                    None => {
                        if at != self.supervisor {
                            push_note(d, Note::Supervisor { from: at });
                        }
                        break self.supervisor;
                    }
                },
            }
        };
        if !d.desks.contains(&chosen) && !d.desks.is_full() {
            d.desks.push(chosen);
        }
    }

    fn unavailable(&self, id: DeskId, load: &Load) -> Option<Unavailable> {
        let i = id.0 as usize;
        let desk = self.desk(id);
        if id == self.supervisor {
            return None;
        }
        if load.closed.get(i).copied().unwrap_or(false) {
            Some(Unavailable::Closed)
        } else if desk.capacity > 0 && load.depth.get(i).copied().unwrap_or(0) >= desk.capacity {
            Some(Unavailable::AtCapacity)
        } else if desk.max_wait_ms > 0
            && load.oldest_wait_ms.get(i).copied().unwrap_or(0) >= desk.max_wait_ms
        {
            Some(Unavailable::QueueTooOld)
        } else {
            None
        }
    }

    /// The area of a location: postcode district first (what the caller said is where it is),
    /// then coordinates if accurate enough and inside the county, else the fallback.
    ///
    /// Coordinates pick the area with the nearest centre (equirectangular distance). That is an
    /// approximation: near a boundary between two areas it can pick the neighbour. A postcode
    /// district, when given, always wins.
    pub fn area_of(&self, loc: &Location) -> (AreaId, AreaSource) {
        if let Some(a) = self.area_of_postcode(&loc.postcode) {
            return (a, AreaSource::Postcode);
        }
        if let (Some(lat), Some(lon)) = (loc.lat, loc.lon) {
            let accurate = loc.accuracy_m.is_none_or(|m| m <= self.max_accuracy_m);
            let inside = self.bounds.is_none_or(|b| {
                (b.south..=b.north).contains(&lat) && (b.west..=b.east).contains(&lon)
            });
            if accurate && inside {
                let k = lat.to_radians().cos();
                let nearest = self.areas.iter().enumerate().min_by(|(_, x), (_, y)| {
                    let dx = |a: &Area| {
                        let (dl, dn) = (a.centre.0 - lat, (a.centre.1 - lon) * k);
                        dl * dl + dn * dn
                    };
                    dx(x).total_cmp(&dx(y))
                });
                if let Some((i, _)) = nearest {
                    return (AreaId(i as u16), AreaSource::Coordinates);
                }
            }
        }
        (self.fallback, AreaSource::Fallback)
    }

    /// The area of a postcode ("CM1 1AA", "cm11aa", "CM1", "CM1 1"), if its district is
    /// configured.
    fn area_of_postcode(&self, postcode: &str) -> Option<AreaId> {
        let outward = crate::domain::postcode_outward(postcode)?;
        table::outward_key(outward.as_bytes()).and_then(|k| self.postcodes.get(&k).copied())
    }

    /// The decision in names and words, as stored and shown.
    pub fn explain(&self, d: &Decision) -> Route {
        let area = &self.areas[d.area.0 as usize];
        let name = |id: DeskId| self.desk(id).id.clone();
        let reasons = d
            .notes
            .iter()
            .map(|n| match *n {
                Note::Area(AreaSource::Postcode) => {
                    format!("area {} from postcode district", area.id)
                }
                Note::Area(AreaSource::Coordinates) => {
                    format!("area {} from coordinates (nearest area centre)", area.id)
                }
                Note::Area(AreaSource::Fallback) => {
                    format!(
                        "area {} by default: location unknown, inaccurate or out of county",
                        area.id
                    )
                }
                Note::Resolution => "grade 4 or referral: resolution desk".to_owned(),
                Note::AreaDesk(a) => format!("{a} desk for area {}", area.id),
                Note::Skill(s) => format!("incident type needs the skill of desk {}", name(s)),
                Note::JointDesk => "JOINT incident: joint coordination desk".to_owned(),
                Note::Overflow { from, to, why } => format!(
                    "desk {} {}: overflow to {}",
                    name(from),
                    match why {
                        Unavailable::Closed => "is closed",
                        Unavailable::AtCapacity => "is at capacity",
                        Unavailable::QueueTooOld => "has waited too long",
                    },
                    name(to)
                ),
                Note::Supervisor { from } => format!(
                    "desk {} unavailable with no overflow: supervisor",
                    name(from)
                ),
            })
            .collect();
        Route {
            area: area.id.clone(),
            desks: d.desks.iter().map(|id| name(*id)).collect(),
            reasons,
        }
    }
}

fn push_note(d: &mut Decision, n: Note) {
    let _ = d.notes.try_push(n);
}

#[cfg(test)]
mod tests;
