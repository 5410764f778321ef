//! The desks and areas file: its TOML schema and its compilation into a [`Table`], with every
//! mistake reported by name before anything is served.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::{AreaId, DeskId, Table};
use crate::domain::Agency;

/// The Essex configuration that ships with bluelight, used when no `--desks` file is given.
pub const DEFAULT_DESKS: &str = include_str!("../../config/desks.toml");

/// A desks file that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct DesksError {
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DesksFile {
    fallback_area: String,
    #[serde(default = "default_accuracy")]
    max_accuracy_m: u32,
    bounds: Option<Bounds>,
    #[serde(rename = "area")]
    areas: Vec<AreaDef>,
    #[serde(rename = "desk")]
    desks: Vec<DeskDef>,
    #[serde(default)]
    skills: HashMap<String, Vec<String>>,
}

fn default_accuracy() -> u32 {
    5000
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaDef {
    id: String,
    name: String,
    centre: [f64; 2],
    #[serde(default)]
    postcodes: Vec<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Role {
    Resolution,
    Supervisor,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeskDef {
    id: String,
    name: String,
    agency: Option<Agency>,
    role: Option<Role>,
    #[serde(default)]
    areas: Vec<String>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    capacity: u32,
    #[serde(default)]
    max_wait_s: u32,
    overflow: Option<String>,
}

/// One desk as routing sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Desk {
    pub id: String,
    pub name: String,
    pub agency: Agency,
    /// Queue depth at which new work overflows; 0 for no limit.
    pub capacity: u32,
    /// Oldest wait (ms) at which new work overflows; 0 for no limit.
    pub max_wait_ms: i64,
    pub overflow: Option<DeskId>,
}

/// One area.
#[derive(Clone, Debug, PartialEq)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub centre: (f64, f64),
}

/// Packs an outward postcode (up to 4 ASCII alphanumerics, upper case) into a key.
pub(super) fn outward_key(outward: &[u8]) -> Option<u32> {
    if outward.is_empty() || outward.len() > 4 || !outward.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(
        outward
            .iter()
            .fold(0u32, |k, b| (k << 8) | u32::from(b.to_ascii_uppercase())),
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Compiles a desks file. `file` names it in error messages.
pub fn compile(file: &str, source: &str) -> Result<Table, DesksError> {
    let f: DesksFile = toml::from_str(source).map_err(|e| {
        let line = e
            .span()
            .map(|s| source[..s.start.min(source.len())].matches('\n').count() + 1)
            .unwrap_or(0);
        DesksError {
            problems: vec![format!("{file}:{line}: {}", e.message())],
        }
    })?;
    let mut problems = Vec::new();
    let mut problem = |m: String| problems.push(format!("{file}: {m}"));

    let mut area_index: HashMap<&str, AreaId> = HashMap::new();
    let mut postcodes: FxHashMap<u32, AreaId> = FxHashMap::default();
    let mut areas = Vec::new();
    for (i, a) in f.areas.iter().enumerate() {
        let id = AreaId(i as u16);
        if !valid_id(&a.id) {
            problem(format!(
                "area {:?}: ids are lower-case letters, digits, '-' and '_'",
                a.id
            ));
        }
        if area_index.insert(&a.id, id).is_some() {
            problem(format!("area {:?} is defined twice", a.id));
        }
        for pc in &a.postcodes {
            match outward_key(pc.as_bytes()) {
                None => problem(format!(
                    "area {:?}: {pc:?} is not a postcode district such as CM1",
                    a.id
                )),
                Some(k) => {
                    if let Some(other) = postcodes.insert(k, id) {
                        problem(format!(
                            "postcode district {pc} is in both {:?} and {:?}",
                            f.areas[other.0 as usize].id, a.id
                        ));
                    }
                }
            }
        }
        areas.push(Area {
            id: a.id.clone(),
            name: a.name.clone(),
            centre: (a.centre[0], a.centre[1]),
        });
    }
    if areas.is_empty() {
        problem("no [[area]] defined".into());
    }
    let fallback = area_index
        .get(f.fallback_area.as_str())
        .copied()
        .unwrap_or_else(|| {
            problem(format!(
                "fallback_area {:?} is not an area",
                f.fallback_area
            ));
            AreaId(0)
        });

    let mut desk_index: HashMap<&str, DeskId> = HashMap::new();
    for (i, d) in f.desks.iter().enumerate() {
        if !valid_id(&d.id) {
            problem(format!(
                "desk {:?}: ids are lower-case letters, digits, '-' and '_'",
                d.id
            ));
        }
        if desk_index.insert(&d.id, DeskId(i as u16)).is_some() {
            problem(format!("desk {:?} is defined twice", d.id));
        }
    }
    if f.desks.len() > u16::MAX as usize || f.areas.len() > u16::MAX as usize {
        problem("too many desks or areas".into());
    }

    let n_areas = areas.len();
    let mut police_for: Vec<Option<DeskId>> = vec![None; n_areas];
    let mut fire_for: Vec<Option<DeskId>> = vec![None; n_areas];
    let mut joint = None;
    let mut resolution = None;
    let mut supervisor = None;
    let mut skill_desk: HashMap<String, DeskId> = HashMap::new();
    let mut desks = Vec::new();
    for (i, d) in f.desks.iter().enumerate() {
        let id = DeskId(i as u16);
        let agency = match (d.agency, d.role) {
            (Some(a @ (Agency::Police | Agency::Fire | Agency::Joint)), None) => a,
            (None, Some(Role::Resolution)) => {
                if resolution.replace(id).is_some() {
                    problem("more than one desk has role = \"resolution\"".into());
                }
                Agency::None
            }
            (None, Some(Role::Supervisor)) => {
                if supervisor.replace(id).is_some() {
                    problem("more than one desk has role = \"supervisor\"".into());
                }
                Agency::None
            }
            _ => {
                problem(format!(
                    "desk {:?}: give either agency = POLICE, FIRE or JOINT, or role = resolution or supervisor",
                    d.id
                ));
                Agency::None
            }
        };
        if agency == Agency::Joint && joint.replace(id).is_some() {
            problem("more than one JOINT desk".into());
        }
        for a in &d.areas {
            let targets: Vec<usize> = if a == "*" {
                (0..n_areas).collect()
            } else if let Some(ai) = area_index.get(a.as_str()) {
                vec![ai.0 as usize]
            } else {
                problem(format!("desk {:?}: unknown area {a:?}", d.id));
                continue;
            };
            let slot = match agency {
                Agency::Police => &mut police_for,
                Agency::Fire => &mut fire_for,
                _ => {
                    problem(format!(
                        "desk {:?}: only POLICE and FIRE desks cover areas",
                        d.id
                    ));
                    break;
                }
            };
            for t in targets {
                // An explicit area beats "*"; two explicit claims are a mistake.
                match slot[t] {
                    Some(prev)
                        if a != "*" && f.desks[prev.0 as usize].areas.iter().any(|x| x != "*") =>
                    {
                        problem(format!(
                            "area {:?} has two {} desks: {:?} and {:?}",
                            areas[t].id, agency, f.desks[prev.0 as usize].id, d.id
                        ))
                    }
                    Some(_) if a == "*" => {}
                    _ => slot[t] = Some(id),
                }
            }
        }
        for s in &d.skills {
            if skill_desk.insert(s.clone(), id).is_some() {
                problem(format!("skill {s:?} is on more than one desk"));
            }
        }
        let overflow = d.overflow.as_ref().and_then(|o| {
            let target = desk_index.get(o.as_str()).copied();
            if target.is_none() {
                problem(format!(
                    "desk {:?}: overflow desk {o:?} does not exist",
                    d.id
                ));
            }
            target
        });
        desks.push(Desk {
            id: d.id.clone(),
            name: d.name.clone(),
            agency,
            capacity: d.capacity,
            max_wait_ms: i64::from(d.max_wait_s) * 1000,
            overflow,
        });
    }

    for (i, a) in areas.iter().enumerate() {
        if police_for[i].is_none() {
            problem(format!("area {:?} has no POLICE desk", a.id));
        }
        if fire_for[i].is_none() {
            problem(format!("area {:?} has no FIRE desk", a.id));
        }
    }
    if resolution.is_none() {
        problem("no desk has role = \"resolution\" (grade 4 and referrals go there)".into());
    }
    if supervisor.is_none() {
        problem("no desk has role = \"supervisor\"".into());
    }
    if let Some(s) = supervisor
        && desks[s.0 as usize].overflow.is_some()
    {
        problem("the supervisor desk cannot overflow".into());
    }
    // Overflow chains must end: follow each for at most desks.len() steps.
    for (i, d) in desks.iter().enumerate() {
        let mut at = d.overflow;
        let mut steps = 0;
        while let Some(n) = at {
            steps += 1;
            if n.0 as usize == i || steps > desks.len() {
                problem(format!("desk {:?}: its overflow chain is a cycle", d.id));
                break;
            }
            at = desks[n.0 as usize].overflow;
        }
    }

    let mut type_skill: FxHashMap<String, DeskId> = FxHashMap::default();
    for (skill, codes) in &f.skills {
        let Some(desk) = skill_desk.get(skill).copied() else {
            problem(format!("[skills] {skill:?} has no desk with that skill"));
            continue;
        };
        for c in codes {
            if type_skill.insert(c.clone(), desk).is_some() {
                problem(format!(
                    "[skills] incident type {c} needs more than one skill"
                ));
            }
        }
    }
    if let Some(b) = f.bounds
        && (b.south >= b.north || b.west >= b.east)
    {
        problem("bounds: south must be below north and west below east".into());
    }

    if !problems.is_empty() {
        return Err(DesksError { problems });
    }
    Ok(Table {
        police_for: police_for
            .into_iter()
            .map(|d| d.expect("checked"))
            .collect(),
        fire_for: fire_for.into_iter().map(|d| d.expect("checked")).collect(),
        joint,
        resolution: resolution.expect("checked"),
        supervisor: supervisor.expect("checked"),
        type_skill,
        postcodes,
        fallback,
        max_accuracy_m: f.max_accuracy_m,
        bounds: f.bounds,
        areas,
        desks,
    })
}
