//! The Lua scripts, one per state change, each in its own file under `scripts/`, with the shared
//! helpers of `prelude.lua` prepended. Loaded once; redis-rs runs them by SHA and reloads them
//! if Redis has forgotten them (after a restart).

use redis::Script;

const PRELUDE: &str = include_str!("scripts/prelude.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

pub struct Scripts {
    pub submit: Script,
    pub claim_next: Script,
    pub claim: Script,
    pub renew: Script,
    pub transfer: Script,
    pub regrade: Script,
    pub escalate: Script,
    pub complete: Script,
    pub complete_claim_next: Script,
    pub release: Script,
    pub reap: Script,
    pub list_queue: Script,
    pub set_desk_status: Script,
    pub desk_stats: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            submit: script(include_str!("scripts/submit.lua")),
            claim_next: script(include_str!("scripts/claim_next.lua")),
            claim: script(include_str!("scripts/claim.lua")),
            renew: script(include_str!("scripts/renew.lua")),
            transfer: script(include_str!("scripts/transfer.lua")),
            regrade: script(include_str!("scripts/regrade.lua")),
            escalate: script(include_str!("scripts/escalate.lua")),
            complete: script(include_str!("scripts/complete.lua")),
            complete_claim_next: script(include_str!("scripts/complete_claim_next.lua")),
            release: script(include_str!("scripts/release.lua")),
            reap: script(include_str!("scripts/reap.lua")),
            list_queue: script(include_str!("scripts/list_queue.lua")),
            set_desk_status: script(include_str!("scripts/set_desk_status.lua")),
            desk_stats: script(include_str!("scripts/desk_stats.lua")),
        }
    }
}
