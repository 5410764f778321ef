//! What the call handler or portal tells the member of the public.

use super::{Agency, Grade, Referral, Triage};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A reference `PREFIX-YYYYMMDD-N` as it is read to a caller: "incident 42 of 22 November 2026".
pub fn spoken_reference(reference: &str) -> String {
    let mut parts = reference.rsplitn(3, '-');
    let (Some(n), Some(date)) = (parts.next(), parts.next()) else {
        return format!("incident {reference}");
    };
    let month = date
        .get(4..6)
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| (1..=12).contains(m));
    match (
        date.get(0..4),
        month,
        date.get(6..8).and_then(|d| d.parse::<u8>().ok()),
    ) {
        (Some(y), Some(m), Some(d)) if date.len() == 8 => {
            format!("incident {n} of {d} {} {y}", MONTHS[m - 1])
        }
        _ => format!("incident {reference}"),
    }
}

/// The words for the public, by decision. With a reference, they end by giving it.
pub fn public_message(t: &Triage, reference: Option<&str>) -> String {
    let who = match t.agency {
        Agency::Police => "Police officers",
        Agency::Fire => "Firefighters",
        Agency::Joint => "Police and firefighters",
        _ => "",
    };
    let mut msg = match (t.referral, t.grade) {
        (Some(Referral::Ambulance), _) => {
            "This needs the ambulance service. If anyone's life is in danger, call 999 and ask for the ambulance \
             service; we are passing on what you told us."
                .to_owned()
        }
        (Some(Referral::ActionFraud), Grade::Resolution) => {
            "Please report this to Action Fraud, the national fraud reporting centre, on 0300 123 2040 or online. \
             If you have lost money, contact your bank straight away."
                .to_owned()
        }
        (Some(Referral::Council), _) => "This is a matter for your local council, which we will let know.".to_owned(),
        (Some(Referral::Utility), _) => {
            "This is a matter for your supplier: call 105 for power cuts, or your water or gas company.".to_owned()
        }
        (_, Grade::Emergency) => format!(
            "{who} are being sent now. If it is safe, stay where you are and keep this line free; \
             if anything changes, call 999 again."
        ),
        (_, Grade::Priority) => {
            format!("{who} will attend as soon as possible, normally within the hour.")
        }
        (_, Grade::Scheduled) => "We will contact you to arrange a visit or appointment, normally within 48 hours.".to_owned(),
        _ => "We will contact you about this; no one will need to visit straight away.".to_owned(),
    };
    if let Some(r) = reference {
        msg.push_str(&format!(" Your reference is {}.", spoken_reference(r)));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_as_number_of_date() {
        assert_eq!(
            spoken_reference("ESX-20261122-42"),
            "incident 42 of 22 November 2026"
        );
        assert_eq!(spoken_reference("odd"), "incident odd");
    }
}
