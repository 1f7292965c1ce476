//! Parts that more than one screen uses: the booking flow, the patient
//! chart with its records, the record editor, day navigation, the
//! automatic refresh, the waitlist, billing (the front desk's view
//! of open invoices and one invoice's panel), and the admin's webhooks.

pub mod billing;
pub mod booking;
pub mod chart;
pub mod day_nav;
pub mod editor;
pub mod emergency;
pub mod invoice;
pub mod refresh;
pub mod waitlist;
pub mod webhooks;

/// What an embedded part tells its screen after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Open,
    /// Not one of its keys: the screen (and then the app) may use it.
    Ignored,
    Closed,
}
